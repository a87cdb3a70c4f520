package seeder

import (
	"context"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
	"github.com/superpeer/superpeer/pkg/tracker/trackertest"
	"github.com/superpeer/superpeer/pkg/wire"
)

// TestGenV3Swarms: the worked examples of protocol-v3.md §2, through the
// playlist parser as superpeer reads a real master.
func TestGenV3Swarms(t *testing.T) {
	parse := func(master, rawURL string) *playlist.Manifest {
		u, err := url.Parse(rawURL)
		require.NoError(t, err)
		m, err := playlist.ParseMaster([]byte(master), u)
		require.NoError(t, err)
		return m
	}
	// Example 2 and 3: one video stream (no bitrate in its identity) and its
	// audio rendition; the default swarm id is the requested URL without query.
	m := parse(`#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="English",LANGUAGE="en",CHANNELS="2",URI="en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="a"
v720.m3u8
`, "https://example.com/master.m3u8")
	got := genV3{}.swarms(streamIdentity{RequestURL: "https://example.com/master.m3u8?token=1"}, m)
	require.Len(t, got, 2)
	require.Equal(t, "kSbg8bs03Vx2Lhg1S9aL", got[0].InfoHash)
	require.Equal(t, "v3-https://example.com/master.m3u8-main-EHxJuyJ6D29ayemSli1OrbhHqnM=", got[0].SwarmID)
	require.Equal(t, "zpbEiCSdZTBsrKklJNdM", got[1].InfoHash)

	// Example 1: two renditions that differ in resolution keep the bitrate out.
	m = parse(`#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=327800,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=426x240,CODECS="avc1.4d4015,mp4a.40.2"
240p.m3u8
`, "https://cdn.example.com/media/vod/ts/master.m3u8")
	got = genV3{}.swarms(streamIdentity{SwarmID: "acc-test"}, m)
	require.Equal(t, "GtYYQcMvj3MGGCepBJWM", got[0].InfoHash)
	require.Equal(t, "DUEneS1+FhUUT4M2G6It", got[1].InfoHash)
}

// TestGenV3Announcement: a full 256-id block goes out whole to 5.x, which
// reads a block count of 0 as 256; 2.x gets 255 of them.
func TestGenV3Announcement(t *testing.T) {
	set := liveSet(0, 255)
	set.Live = false
	v3 := newProtoBinary(rulesV3)
	v3.publish(set)
	out := &fakeOutbox{}
	require.NoError(t, v3.newSession(sessionConfig{MaxMessage: 1 << 16}).start(out))
	frames := out.take()
	require.Len(t, frames, 1)
	cmd, err := wire.DecodePayloadV3([]byte(frames[0])[4 : len(frames[0])-4])
	require.NoError(t, err)
	require.Len(t, cmd.Loaded, 256)

	v2 := newProtoBinary(rules2x)
	v2.publish(set)
	require.NoError(t, v2.newSession(sessionConfig{MaxMessage: 1 << 16}).start(out))
	cmd, err = wire.DecodePayload([]byte(out.take()[0])[4 : len(frames[0])-4])
	require.NoError(t, err)
	require.Len(t, cmd.Loaded, 255)
}

// TestServeV3LiveElection: a simulated 5.x browser joins the live swarm a
// 5.0 page computes, downloads every new segment byte-exact, and hears
// superpeer announce each new segment as held right after superpeer
// fetched it, so that its HTTP election would leave it to superpeer.
func TestServeV3LiveElection(t *testing.T) {
	if testing.Short() {
		t.Skip("follows a live playlist for a few seconds")
	}
	h := &harness{origin: playlisttest.NewOrigin(), tracker: trackertest.NewServer(t, trackertest.Options{Relay: true, Interval: 1})}
	t.Cleanup(h.origin.Close)
	var mu sync.Mutex
	served := map[int64]time.Time{} // when the origin produced each segment's body
	live := h.origin.AddMedia("/live/index.m3u8", playlisttest.MediaOptions{
		Live: true, Segments: 3, Duration: 1, MediaSequence: 500, SegmentSize: 30_000,
		Data: func(msn int64) []byte {
			mu.Lock()
			if _, ok := served[msn]; !ok {
				served[msn] = time.Now()
			}
			mu.Unlock()
			b := make([]byte, 30_000)
			for i := range b {
				b[i] = byte(msn) ^ byte(i)
			}
			return b
		},
	})
	h.origin.SetFile("/live/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=640x360,CODECS=\"avc1.4d401e\"\nindex.m3u8\n"))
	cfg := testConfig(h.tracker.URL, h.origin.URL+"/live/master.m3u8?session=9")
	cfg.Streams[0].Generations = []wire.Generation{wire.GenV3}
	startSeeder(t, h, cfg)
	waitFor(t, 10*time.Second, "readiness", h.seeder.Ready)

	swarm := wire.StreamSwarmIDV3(h.origin.URL+"/live/master.m3u8", wire.Main,
		wire.IdentityHashesV3([]wire.StreamV3{{Type: wire.Main, Props: wire.HLSVariantPropsV3(wire.HLSVariantAttrsV3{
			Bandwidth: "500000", Resolution: "640x360", Codecs: "avc1.4d401e"})}})[0])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := newTestBrowser(t, h.tracker.URL, wire.GenV3.InfoHash(swarm), true)
	b.run(ctx)
	c := b.conn(ctx)
	waitAnnouncement(t, c, []int64{500, 501, 502})

	var lags []time.Duration
	for range 4 {
		live.Advance()
		_, last := live.Window()
		for {
			cmd, err := c.nextCommand()
			require.NoError(t, err)
			if cmd.Type == wire.SegmentsAnnouncement && slices.Contains(cmd.Loaded, last) {
				mu.Lock()
				lags = append(lags, time.Since(served[last]))
				mu.Unlock()
				break
			}
		}
		got, err := c.download(last, last, 0)
		require.NoError(t, err)
		require.Equal(t, live.SegmentData(last), got, "segment %d byte-exact", last)
	}
	t.Logf("measured: origin served a new live segment -> the 5.x browser received superpeer's l: %v", lags)
	for i, lag := range lags {
		require.LessOrEqual(t, lag, 100*time.Millisecond, "announcement %d of a new segment", i)
	}
	require.Positive(t, metricValue(t, h.reg, "superpeer_peer_requests_total", "test", "served"))
}

// TestGlare: when superpeer and a 5.x browser offer to each other at once,
// superpeer keeps the handshake offered by the lower peer id, as the
// browser does; other generations keep the first handshake.
func TestGlare(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	env := &swarmEnv{limits: newLimits(PeersConfig{Max: 10, MaxPerSwarm: 10, MaxPendingOffers: 10}, m), metrics: m.forStream("t"), peerID: "-SP0100-aaaaaaaaaaaa"}
	sw := newSwarm(context.Background(), env, genV3{}, swarmIdentity{}, "main-0")
	require.True(t, sw.glare)
	lower, higher := "-PM0500-AAAAAAAAAAAA", "-ZZ0500-AAAAAAAAAAAA"

	// Our offer is being answered by a browser that offers to us too.
	for _, tc := range []struct {
		remote, existing, offerer string
		yields                    bool
	}{
		{lower, "offer", lower, true},        // its offer (lower id) wins over ours
		{higher, "offer", higher, false},     // ours (lower id) wins: its offer is a duplicate
		{higher, "answer", env.peerID, true}, // its answer to our offer wins over its own offer
		{lower, "answer", env.peerID, false}, // its own offer (lower id) wins
	} {
		require.True(t, env.limits.takePeer())
		p := &peer{remoteID: tc.remote, direction: tc.existing}
		sw.peers[tc.remote] = p
		got := sw.yieldLocked(tc.remote, tc.offerer, tc.existing)
		if tc.yields {
			require.Same(t, p, got, "%+v", tc)
			require.Nil(t, sw.peers[tc.remote])
		} else {
			require.Nil(t, got, "%+v", tc)
			delete(sw.peers, tc.remote)
			env.limits.releasePeer()
		}
	}
	require.Zero(t, env.limits.peers.Load(), "a yielded handshake frees its slot")

	// Once open, a connection is never given up.
	p := &peer{remoteID: lower, direction: "offer"}
	p.isOpen.Store(true)
	sw.peers[lower] = p
	require.Nil(t, sw.yieldLocked(lower, lower, "offer"))

	old := newSwarm(context.Background(), env, gen2x{gen: wire.Gen23}, swarmIdentity{}, "main-0")
	old.peers[lower] = &peer{remoteID: lower, direction: "offer"}
	require.Nil(t, old.yieldLocked(lower, lower, "offer"), "2.x keeps the first handshake")
}
