//go:build interop

package interop

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/seeder"
)

// superpeerPrefix starts the peer ids superpeer announces (tracker_client.peer_id_prefix default).
const superpeerPrefix = "-SP"

// Superpeer is an in-process superpeer seeding one stream for a test.
type Superpeer struct {
	Seeder *seeder.Seeder
	Reg    *prometheus.Registry
	Admin  string // http://127.0.0.1:port
}

// startSuperpeer runs superpeer on loopback, seeding streamURL through the env's tracker, and waits
// until it is ready (playlists loaded, swarms joined). It stops when the test ends.
func startSuperpeer(t *testing.T, env *Env, streamURL string) *Superpeer {
	t.Helper()
	return startSuperpeerWith(t, env, streamURL, nil)
}

// startSuperpeerWith is startSuperpeer with tweak applied to the configuration before it starts.
func startSuperpeerWith(t *testing.T, env *Env, streamURL string, tweak func(*seeder.Config)) *Superpeer {
	t.Helper()
	cfg := seeder.DefaultConfig()
	cfg.Trackers = []string{env.Tracker}
	cfg.WebRTC.ICEServers = nil
	cfg.WebRTC.IncludeLoopback = true
	cfg.Streams = []seeder.StreamConfig{{ID: "test", URL: streamURL}}
	if tweak != nil {
		tweak(&cfg)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	s, err := seeder.New(cfg, seeder.Options{Logger: log, Registry: reg, AdminListener: ln})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("superpeer did not stop within 20 s")
		}
	})
	sp := &Superpeer{Seeder: s, Reg: reg, Admin: "http://" + ln.Addr().String()}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(sp.Admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return sp
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("superpeer not ready after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counter returns the sum of a counter or gauge over every series whose labels include labels.
func (sp *Superpeer) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := sp.Reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestSuperpeerVOD231 is the headline check: one viewer with the published P2P Media Loader 2.3.1
// and default settings watches a 60 s VOD that superpeer seeds. Alone, a viewer gets 0 % over P2P;
// with superpeer most of its bytes come from superpeer, byte-identical to the origin, without stalls.
func TestSuperpeerVOD231(t *testing.T) {
	testSuperpeerVOD(t, P2PML231)
}

// TestSuperpeerVOD222 is TestSuperpeerVOD231 with P2P Media Loader 2.2.2, the other swarm identity.
func TestSuperpeerVOD222(t *testing.T) {
	testSuperpeerVOD(t, P2PML222)
}

func testSuperpeerVOD(t *testing.T, version string) {
	env := newEnv(t)
	sp := startSuperpeer(t, env, env.Origin.VODMaster())

	url := env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: version})
	res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 1, 0, 40*time.Second)})
	logViewers(t, env.Origin, res)
	s := res.Viewers[0].Stats

	require.Equal(t, version, s.P2PML)
	requirePlayed(t, env.Origin, 0, s)
	require.Zero(t, s.Playback.Stalls, "stalls")
	require.Zero(t, s.Playback.BufferStalledErrors, "buffer stalled errors")

	fromSuperpeer := s.P2PBytesFrom(superpeerPrefix)
	total := s.Bytes.HTTP + s.Bytes.P2P
	ratio := float64(fromSuperpeer) / float64(total)
	sent := sp.counter(t, "superpeer_p2p_sent_bytes_total", map[string]string{"stream": "test"})
	t.Logf("P2PML %s: %d of %d bytes (%.1f %%) from superpeer; superpeer sent %.0f B and fetched %.0f B from the origin",
		version, fromSuperpeer, total, 100*ratio, sent, sp.counter(t, "superpeer_origin_fetched_bytes_total", nil))
	require.Equal(t, s.Bytes.P2P, fromSuperpeer, "the only peer is superpeer")
	require.GreaterOrEqual(t, ratio, 0.6, "share of the viewer's bytes delivered by superpeer")
	require.GreaterOrEqual(t, sent, float64(fromSuperpeer), "superpeer counts what it delivered")
	require.Positive(t, sp.counter(t, "superpeer_peer_requests_total", map[string]string{"outcome": "served"}))
}

// TestSuperpeerLive: one viewer of the live simulation with the client settings docs/ recommends for
// live (hls.js liveSyncDurationCount 10, P2PML highDemandTimeWindow 8: the live profile of the test
// page). superpeer pulls each segment as it appears and is ahead of the viewer.
func TestSuperpeerLive(t *testing.T) {
	env := newEnv(t)
	sp := startSuperpeer(t, env, env.Origin.LiveMaster())

	url := env.PlayerURL(PlayerParams{Src: env.Origin.LiveMaster(), Live: true})
	res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 1, 0, 40*time.Second)})
	logViewers(t, env.Origin, res)
	s := res.Viewers[0].Stats

	requirePlayed(t, env.Origin, 0, s)
	require.Zero(t, s.Playback.Stalls, "stalls")

	fromSuperpeer := s.P2PBytesFrom(superpeerPrefix)
	total := s.Bytes.HTTP + s.Bytes.P2P
	ratio := float64(fromSuperpeer) / float64(total)
	t.Logf("live: %d of %d bytes (%.1f %%) from superpeer; superpeer sent %.0f B",
		fromSuperpeer, total, 100*ratio, sp.counter(t, "superpeer_p2p_sent_bytes_total", nil))
	require.GreaterOrEqual(t, ratio, 0.5, "share of the live viewer's bytes delivered by superpeer")
}
