package seeder

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
	"github.com/superpeer/superpeer/pkg/tracker/trackertest"
	"github.com/superpeer/superpeer/pkg/wire"
)

// TestGen06Swarms: swarm ids and info hashes as the 0.6.2 hls.js
// integration derives them (protocol-v0.6.md §2.4, vectors in pkg/wire).
func TestGen06Swarms(t *testing.T) {
	m := &playlist.Manifest{
		SwarmBase: "https://cdn.example.com/live/master.m3u8", // after a redirect: not used by 0.6
		Variants: []playlist.Variant{
			{Type: playlist.Main, StreamInf: 0},
			{Type: playlist.Main, StreamInf: 2}, // the second STREAM-INF was dropped by hls.js 1.6
			{Type: playlist.Secondary, StreamInf: -1},
		},
	}
	got := gen06{}.swarms(streamIdentity{RequestURL: "https://example.com/live/master.m3u8?token=abc123"}, m)
	require.Len(t, got, 2, "audio is never shared by 0.6")
	require.Equal(t, "https://example.com/live/master.m3u8+V0", got[0].SwarmID)
	require.Equal(t, "ae9cd6bf657a583a6f33711f1cae11fa25c19b43", hex.EncodeToString([]byte(got[0].InfoHash)))
	require.Equal(t, 0, got[0].Variant)
	require.Equal(t, "https://example.com/live/master.m3u8+V2", got[1].SwarmID)
	require.Equal(t, 1, got[1].Variant)

	got = gen06{}.swarms(streamIdentity{SwarmID: "my-custom-swarm", RequestURL: "https://example.com/x.m3u8"}, m)
	require.Equal(t, "a65acb13ac5739e61017c6ec9bade34ea8fe0314", hex.EncodeToString([]byte(got[0].InfoHash)))

	media := &playlist.Manifest{MediaOnly: true, Variants: []playlist.Variant{{Type: playlist.Main}}}
	got = gen06{}.swarms(streamIdentity{RequestURL: "https://example.com/live/chunklist.m3u8?wmsAuthSign=q"}, media)
	require.Equal(t, []swarmIdentity{{Variant: 0, SwarmID: "https://example.com/live/chunklist.m3u8",
		InfoHash: wire.Gen06.InfoHash("https://example.com/live/chunklist.m3u8")}}, got)
	require.Equal(t, "a2d29d2c122c1b00a5cacda81a4c4b128d2f8349", hex.EncodeToString([]byte(got[0].InfoHash)))
}

// fakeOutbox records what a session sends.
type fakeOutbox struct {
	commands [][]byte
	up       *upload
	outcomes []string
	faults   []string
	timer    time.Duration
}

func (o *fakeOutbox) command(msgs [][]byte) error {
	o.commands = append(o.commands, msgs...)
	return nil
}
func (o *fakeOutbox) serve(u *upload)        { o.up = u }
func (o *fakeOutbox) current() *upload       { return o.up }
func (o *fakeOutbox) cancel()                { o.up = nil }
func (o *fakeOutbox) request(outcome string) { o.outcomes = append(o.outcomes, outcome) }
func (o *fakeOutbox) fault(reason string)    { o.faults = append(o.faults, reason) }
func (o *fakeOutbox) after(d time.Duration)  { o.timer = d }

// take returns the commands sent since the last call.
func (o *fakeOutbox) take() []string {
	var out []string
	for _, c := range o.commands {
		out = append(out, string(c))
	}
	o.commands = nil
	return out
}

// liveSet is a segment set of sequence numbers first..last, all held but
// those listed as loading.
func liveSet(first, last int64, loading ...int64) *segmentSet {
	set := &segmentSet{Live: true}
	for seq := first; seq <= last; seq++ {
		h := heldSegment{Seg: playlist.Segment{ID: seq, Sequence: seq}}
		if !contains(loading, seq) {
			h.Data = []byte(fmt.Sprintf("segment %d", seq))
		}
		set.Current = append(set.Current, h)
	}
	return set
}

func contains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

const swarm06 = "https://example.com/live/master.m3u8+V0"

// TestSession06 walks a 0.6 session through what the browser does: the
// map on open, again on the browser's first map and after a second when the
// browser stays silent, requests, absent, cancel and live updates.
func TestSession06(t *testing.T) {
	p := gen06{}.newProtocol(swarmIdentity{SwarmID: swarm06}).(*proto06)
	p.publish(liveSet(100, 105, 105))
	s := p.newSession(sessionConfig{MaxMessage: 16})
	out := &fakeOutbox{}

	require.True(t, s.wants([]byte(`{"c":3,"i":"x"}`)))
	require.False(t, s.wants([]byte("raw segment bytes")))

	wantMap := `{"c":2,"m":{"` + swarm06 + `":["100|101|102|103|104|105",[0,0,0,0,0,1]]}}`
	require.NoError(t, s.start(out))
	require.Equal(t, []string{wantMap}, out.take())
	require.Equal(t, mapResend06, out.timer)

	// The browser's first map: ours again, since the first may have been lost.
	require.NoError(t, s.handle([]byte(`{"c":2,"m":{}}`), out))
	require.Equal(t, []string{wantMap}, out.take())
	require.NoError(t, s.timer(out))
	require.Empty(t, out.take(), "no resend once the browser has spoken")
	require.NoError(t, s.handle([]byte(`{"c":2,"m":{}}`), out))
	require.Empty(t, out.take(), "only the first map triggers a resend")

	// A request: header, then the bytes in chunks that never look like a command.
	require.NoError(t, s.handle([]byte(`{"c":3,"i":"`+swarm06+`+102"}`), out))
	require.NotNil(t, out.up)
	require.Equal(t, []string{`{"c":0,"i":"` + swarm06 + `+102","s":11}`}, stringsOf(out.up.Header))
	require.Equal(t, []byte("segment 102"), out.up.Data)
	require.True(t, out.up.Exclusive, "no command between header and last chunk")
	require.Equal(t, 6, out.up.Chunk([]byte(`{"a":1}xyz`), 7), "a chunk that would parse as a command is cut")

	// Cancel matches on the segment id.
	require.NoError(t, s.handle([]byte(`{"c":4,"i":"`+swarm06+`+101"}`), out))
	require.NotNil(t, out.up, "cancel of another id")
	require.NoError(t, s.handle([]byte(`{"c":4,"i":"`+swarm06+`+102"}`), out))
	require.Nil(t, out.up)

	// Absent: being fetched, unknown, another swarm's.
	for _, id := range []string{swarm06 + "+105", swarm06 + "+999", "https://example.com/live/master.m3u8+V1+102", "nonsense"} {
		require.NoError(t, s.handle([]byte(`{"c":3,"i":"`+id+`"}`), out))
		require.Equal(t, []string{`{"c":1,"i":"` + id + `"}`}, out.take())
	}
	require.Equal(t, []string{"cancelled", "absent", "absent", "absent", "absent"}, out.outcomes)

	// Live: the window moves, the browser gets the new map once.
	p.publish(liveSet(101, 106))
	require.NoError(t, s.published(out))
	require.Equal(t, []string{`{"c":2,"m":{"` + swarm06 + `":["101|102|103|104|105|106",[0,0,0,0,0,0]]}}`}, out.take())
	require.NoError(t, s.published(out))
	require.Empty(t, out.take(), "an unchanged map is not sent again")

	// Misbehaviour is counted, not fatal.
	require.NoError(t, s.handle([]byte(`{"c":0,"i":"`+swarm06+`+1","s":3}`), out))
	require.NoError(t, s.handle([]byte(`{"not json}`), out))
	require.NoError(t, s.handle([]byte(`{"c":9}`), out))
	require.Equal(t, []string{"unexpected_command", "unrequested_data", "malformed_command"}, out.faults)
}

// TestSession06SilentBrowser: a browser that never sends a map (consumeOnly)
// gets ours again after a second.
func TestSession06SilentBrowser(t *testing.T) {
	p := gen06{}.newProtocol(swarmIdentity{SwarmID: swarm06}).(*proto06)
	p.publish(liveSet(0, 1))
	s := p.newSession(sessionConfig{MaxMessage: 16})
	out := &fakeOutbox{}
	require.NoError(t, s.start(out))
	first := out.take()
	require.NoError(t, s.timer(out))
	require.Equal(t, first, out.take())
}

// TestSession06Window: a long VOD map lists a window around where the
// browser plays, which follows its requests; every id is still served.
func TestSession06Window(t *testing.T) {
	p := gen06{}.newProtocol(swarmIdentity{SwarmID: swarm06}).(*proto06)
	set := liveSet(0, 999)
	set.Live = false
	p.publish(set)
	s := p.newSession(sessionConfig{MaxMessage: 1 << 16})
	out := &fakeOutbox{}
	require.NoError(t, s.start(out))
	ids := mapIDs(t, out.take()[0])
	require.Len(t, ids, mapWindow06)
	require.Equal(t, "0", ids[0], "a VOD browser starts at the start")

	require.NoError(t, s.handle([]byte(`{"c":3,"i":"`+swarm06+`+990"}`), out))
	require.NotNil(t, out.up, "outside the window, yet served")
	msgs := out.take()
	require.Len(t, msgs, 1)
	ids = mapIDs(t, msgs[0])
	require.Len(t, ids, mapWindow06)
	require.Equal(t, "999", ids[len(ids)-1])
	require.Contains(t, ids, "990")

	live := liveSet(0, 999)
	p.publish(live)
	s = p.newSession(sessionConfig{MaxMessage: 1 << 16})
	require.NoError(t, s.start(out))
	ids = mapIDs(t, out.take()[0])
	require.Equal(t, "999", ids[len(ids)-1], "a live browser starts at the edge")
}

func mapIDs(t *testing.T, msg string) []string {
	t.Helper()
	cmd, err := wire.DecodeCommand06([]byte(msg))
	require.NoError(t, err)
	require.Equal(t, wire.SegmentsMap06, cmd.Code)
	require.Len(t, cmd.Map, 1)
	var ids []string
	for _, s := range cmd.Map[0].Segments {
		ids = append(ids, s.ShortID)
	}
	return ids
}

func stringsOf(msgs [][]byte) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m))
	}
	return out
}

// TestServe06Browser: a 0.6 browser (pion, speaking the JSON protocol) and
// a 2.3 browser fetch the same segments from one superpeer through one
// tracker; the origin serves each segment once.
func TestServe06Browser(t *testing.T) {
	h := &harness{origin: playlisttest.NewOrigin(), tracker: trackertest.NewServer(t, trackertest.Options{Relay: true, Interval: 1})}
	t.Cleanup(h.origin.Close)
	h.origin.SetFile("/master.m3u8", []byte(testMaster))
	h.v0 = h.origin.AddMedia("/v0/index.m3u8", playlisttest.MediaOptions{Segments: 6, SegmentSize: 150_000})
	h.origin.AddMedia("/v1/index.m3u8", playlisttest.MediaOptions{Segments: 6, SegmentSize: 40_000, ByteRange: true})
	cfg := testConfig(h.tracker.URL, h.origin.URL+"/master.m3u8?token=abc")
	cfg.Streams[0].Generations = []wire.Generation{wire.Gen06, wire.Gen23}
	startSeeder(t, h, cfg)
	waitFor(t, 10*time.Second, "readiness", h.seeder.Ready)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	swarmID := h.origin.URL + "/master.m3u8+V0" // the request URL without its query
	b := newTestBrowser(t, h.tracker.URL, wire.Gen06.InfoHash(swarmID), true)
	b.run(ctx)
	c := b.conn(ctx)

	// Segments are listed as loading from the moment the playlist shows
	// them, then as held; maps come on open and on every change.
	want := `{"c":2,"m":{"` + swarmID + `":["0|1|2|3|4|5",[0,0,0,0,0,0]]}}`
	var msg string
	for range 20 {
		if msg = c.read06(t); msg == want {
			break
		}
		require.Contains(t, msg, `"0|1|2|3|4|5"`)
	}
	require.Equal(t, want, msg)
	_, err := c.raw.Write([]byte(`{"c":2,"m":{}}`))
	require.NoError(t, err)
	require.Equal(t, msg, c.read06(t), "the map again once the browser has sent its own")

	for seq := int64(0); seq < 6; seq++ {
		got, err := c.download06(t, fmt.Sprintf("%s+%d", swarmID, seq))
		require.NoError(t, err)
		require.Equal(t, h.v0.SegmentData(seq), got, "segment %d byte-identical", seq)
	}
	_, err = c.download06(t, swarmID+"+6")
	require.ErrorContains(t, err, "absent")

	// The 2.3 browser of the same stream, at the same time.
	b23 := newTestBrowser(t, h.tracker.URL, wire.Gen23.InfoHash(wire.StreamSwarmID23(h.origin.URL+"/master.m3u8", wire.Main, variant0)), true)
	b23.run(ctx)
	c23 := b23.conn(ctx)
	waitAnnouncement(t, c23, []int64{0, 1, 2, 3, 4, 5})
	got, err := c23.download(3, 1, 0)
	require.NoError(t, err)
	require.Equal(t, h.v0.SegmentData(3), got)

	for seq := range 6 {
		require.Equal(t, 1, h.origin.Requests(fmt.Sprintf("/v0/seg%d.ts", seq)), "one origin fetch for every generation")
	}
	require.Equal(t, 7.0, metricValue(t, h.reg, "superpeer_peer_requests_total", "test", "served"))
	require.Equal(t, 1.0, metricValue(t, h.reg, "superpeer_peer_requests_total", "test", "absent"))
	require.Equal(t, 2.0, metricValue(t, h.reg, "superpeer_peers", "test"))

	st := h.seeder.Status()
	var gens []string
	for _, sw := range st.Streams[0].Variants[0].Swarms {
		gens = append(gens, sw.Generation+" "+sw.InfoHash)
	}
	require.Equal(t, []string{"0.6 " + hex.EncodeToString([]byte(wire.Gen06.InfoHash(swarmID))),
		"2.3 " + wire.Gen23.InfoHash(wire.StreamSwarmID23(h.origin.URL+"/master.m3u8", wire.Main, variant0))}, gens)
	require.Len(t, st.Streams[0].Variants[2-1].Swarms, 2)
}

// read06 returns the next 0.6 command the browser receives.
func (c *browserConn) read06(t *testing.T) string {
	t.Helper()
	n, err := c.raw.Read(c.buf)
	require.NoError(t, err)
	msg := c.buf[:n]
	require.True(t, wire.IsCommand06(msg), "a command, not data: %q", msg)
	return string(msg)
}

// download06 requests a segment as the 0.6 browser does and checks what
// comes back: a header for that id, then exactly s bytes with no command in
// between, or absent.
func (c *browserConn) download06(t *testing.T, id string) ([]byte, error) {
	t.Helper()
	req := wire.AppendCommand06(nil, wire.Command06{Code: wire.SegmentRequest06, ID: id})
	if _, err := c.raw.Write(req); err != nil {
		return nil, err
	}
	size := int64(-1)
	var got []byte
	for {
		n, err := c.raw.Read(c.buf)
		if err != nil {
			return nil, err
		}
		msg := bytes.Clone(c.buf[:n])
		if size >= 0 {
			if _, err := wire.DecodeCommand06(msg); err == nil {
				return nil, fmt.Errorf("a command in the middle of a transfer: %q", msg)
			}
			got = append(got, msg...)
			switch {
			case int64(len(got)) == size:
				return got, nil
			case int64(len(got)) > size:
				return nil, fmt.Errorf("%d bytes, more than %d", len(got), size)
			}
			continue
		}
		cmd, err := wire.DecodeCommand06(msg)
		if err != nil {
			return nil, fmt.Errorf("data before a header: %w", err)
		}
		switch {
		case cmd.Code == wire.SegmentsMap06:
		case cmd.Code == wire.SegmentAbsent06 && cmd.ID == id:
			return nil, fmt.Errorf("%s absent", id)
		case cmd.Code == wire.SegmentData06 && cmd.ID == id:
			if cmd.Size <= 0 {
				return nil, fmt.Errorf("header with size %d", cmd.Size)
			}
			size = cmd.Size
		default:
			return nil, fmt.Errorf("unexpected %s", strings.TrimSpace(string(msg)))
		}
	}
}

// FuzzSession06 feeds a 0.6 session whatever a browser could send: it
// never panics, and whatever it queues is a well-formed command.
func FuzzSession06(f *testing.F) {
	for _, seed := range []string{
		`{"c":2,"m":{}}`,
		`{"c":3,"i":"` + swarm06 + `+101"}`,
		`{"c":4,"i":"` + swarm06 + `+101"}`,
		`{"c":2,"m":{"` + swarm06 + `":["100|x",[0,1]]}}`,
		`{"c":0,"i":"a","s":1}`,
		`{"c":3,"i":"` + swarm06 + `+"}`,
	} {
		f.Add([]byte(seed))
	}
	p := gen06{}.newProtocol(swarmIdentity{SwarmID: swarm06}).(*proto06)
	p.publish(liveSet(100, 104, 104))
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := p.newSession(sessionConfig{MaxMessage: 1 << 16})
		out := &fakeOutbox{}
		require.NoError(t, s.start(out))
		if s.wants(msg) {
			require.NoError(t, s.handle(msg, out))
		}
		for _, c := range out.commands {
			_, err := wire.DecodeCommand06(c)
			require.NoError(t, err, "queued %q", c)
		}
		if out.up != nil {
			require.NotEmpty(t, out.up.Data, "never a zero-byte upload")
		}
	})
}
