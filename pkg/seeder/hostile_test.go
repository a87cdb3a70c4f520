package seeder

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/wire"
)

// TestPeerThatNeverReads: a hostile peer floods requests for ids superpeer
// does not hold and never reads the replies. Its replies pile up behind a
// full send buffer until the per-peer queue ceiling ends it; it is counted,
// and a well-behaved browser of the same swarm is served throughout.
func TestPeerThatNeverReads(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a WebRTC connection for a few seconds")
	}
	// A small send buffer: the queue ceiling is reached sooner, the same way.
	h := newHarness(t, func(c *Config) { c.WebRTC.BufferHigh, c.WebRTC.BufferLow = 64<<10, 32<<10 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bad := newTestBrowser(t, h.tracker.URL, h.infoHash(wire.Gen23), true)
	bad.run(ctx)
	c := bad.conn(ctx)
	waitAnnouncement(t, c, []int64{0, 1, 2, 3, 4, 5})

	good := newTestBrowser(t, h.tracker.URL, h.infoHash(wire.Gen23), true)
	good.run(ctx)
	gc := good.conn(ctx)
	waitAnnouncement(t, gc, []int64{0, 1, 2, 3, 4, 5})

	// Each request is a few bytes; each SegmentAbsent reply about as many.
	// Nothing on this side reads, so the replies stay in superpeer.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for id := int64(1 << 20); ctx.Err() == nil; id++ {
			frames, err := wire.EncodeCommand(wire.Command{Type: wire.SegmentRequest, SegmentID: id, RequestID: id}, 0)
			if err != nil {
				return
			}
			if _, err := c.raw.Write(frames[0]); err != nil {
				return // superpeer closed the connection
			}
		}
	}()
	waitFor(t, 45*time.Second, "the flooding peer to be dropped", func() bool {
		return metricValue(t, h.reg, "superpeer_peer_errors_total", "test", "queue_full") == 1
	})
	waitFor(t, 5*time.Second, "its disconnect counted", func() bool {
		return metricValue(t, h.reg, "superpeer_peer_disconnects_total", "test", "misbehaving") == 1
	})
	got, err := gc.download(2, 1, 0)
	require.NoError(t, err)
	require.Equal(t, h.v0.SegmentData(2), got, "the other browser is still served")
	cancel()
	<-done
}

// TestLargeUnrequestedMessage: a message larger than a peer's own read
// buffer is read into a shared one, counted as unrequested, and the peer
// goes on.
func TestLargeUnrequestedMessage(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newTestBrowser(t, h.tracker.URL, h.infoHash(wire.Gen23), true)
	b.run(ctx)
	c := b.conn(ctx)
	waitAnnouncement(t, c, []int64{0, 1, 2, 3, 4, 5})
	_, err := c.raw.Write(make([]byte, 60_000))
	require.NoError(t, err)
	got, err := c.download(1, 1, 0)
	require.NoError(t, err)
	require.Equal(t, h.v0.SegmentData(1), got)
	require.Equal(t, 1.0, metricValue(t, h.reg, "superpeer_peer_errors_total", "test", "unrequested_data"))
}

// TestHalfOpenEviction: offers that never complete cannot hold a swarm's
// slots: past maxHalfOpen connections being set up, the oldest gives way,
// and an open connection never does.
func TestHalfOpenEviction(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	env := &swarmEnv{limits: newLimits(PeersConfig{Max: 100, MaxPerSwarm: 100, MaxPendingOffers: 10}, m), metrics: m.forStream("t"), peerID: "-SP0100-aaaaaaaaaaaa"}
	sw := newSwarm(context.Background(), env, gen2x{gen: wire.Gen23}, swarmIdentity{}, "main-0")
	t0 := time.Unix(1000, 0)
	open := &peer{remoteID: "open-peer-xxxxxxxxxx", direction: "answer", created: t0.Add(-time.Hour)}
	open.isOpen.Store(true)
	sw.peers[open.remoteID] = open
	require.True(t, env.limits.takePeer())
	for i := range maxHalfOpen {
		reason, evicted := sw.admitLocked(fmt.Sprintf("fake-%02d-xxxxxxxxxxxx", i))
		require.Empty(t, reason)
		require.Nil(t, evicted)
		id := fmt.Sprintf("fake-%02d-xxxxxxxxxxxx", i)
		sw.peers[id] = &peer{remoteID: id, direction: "answer", created: t0.Add(time.Duration(i) * time.Second)}
	}
	reason, evicted := sw.admitLocked("real-browser-xxxxxxx")
	require.Empty(t, reason, "the real browser is admitted")
	require.NotNil(t, evicted)
	require.Equal(t, "fake-00-xxxxxxxxxxxx", evicted.remoteID, "the oldest half-open connection gives way")
	require.Same(t, open, sw.peers[open.remoteID], "an open connection stays")
	require.Equal(t, int64(maxHalfOpen+1), env.limits.peers.Load(), "slots: the open one, 15 half-open and the new one")
	require.Equal(t, 1.0, metricValue(t, reg, "superpeer_peer_connections_total", "t", "answer", "evicted_half_open"))
}

// soonRecorder is a signaling that only counts announceSoon calls.
type soonRecorder struct {
	signaling
	soon atomic.Int32
}

func (r *soonRecorder) announceSoon(string) { r.soon.Add(1) }

// TestEarlyAnnouncePacing drives a swarm's refill checks by hand (its timer
// is an hour away): early announces while the tracker counts unreached
// browsers and offers are taken; a doubling wait while none is taken or
// nobody is left to reach, and no early announce once that wait reaches the
// tracker's interval, until an offer is taken or browsers appear (checked
// as soon as an announce shows them); none when the swarm is full, nor when
// superpeer makes no offers.
func TestEarlyAnnouncePacing(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	rec := &soonRecorder{}
	env := &swarmEnv{signaling: rec, limits: newLimits(PeersConfig{Max: 100, MaxPerSwarm: 4, MaxPendingOffers: 10}, m),
		metrics: m.forStream("t"), peerID: "-SP0100-aaaaaaaaaaaa", minGap: time.Hour, offering: true}
	sw := newSwarm(context.Background(), env, gen2x{gen: wire.Gen23}, swarmIdentity{}, "main-0")
	t.Cleanup(sw.closePending)
	respond := func(size int64) {
		sw.HandleAnnounceResponse(tracker.AnnounceResponse{Tracker: "ws://t", Interval: 4 * time.Hour, Complete: 0, Incomplete: size})
	}
	// check runs the armed check at once, with taken offers taken since the
	// last, and answers the announce it may ask for with size.
	check := func(taken int, size int64) {
		sw.mu.Lock()
		require.NotNil(t, sw.refill.timer, "a check is armed")
		sw.refill.timer.Stop()
		sw.refill.admitted += taken
		sw.mu.Unlock()
		sw.refillCheck()
		respond(size)
	}
	gap := func() time.Duration {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		return sw.refill.gap
	}
	early := func() int32 { return rec.soon.Load() }

	respond(1) // alone on the tracker
	require.Equal(t, time.Hour, gap())
	check(0, 1)
	require.Equal(t, int32(1), early(), "nobody to reach: look again, later")
	require.Equal(t, 2*time.Hour, gap())
	check(0, 1)
	require.Equal(t, int32(1), early(), "the wait reached the tracker's interval: no early announce")
	require.Equal(t, 4*time.Hour, gap())
	respond(10) // the regular announce finds 9 browsers where there was nobody to reach
	require.Eventually(t, func() bool { return early() == 2 }, 10*time.Second, time.Millisecond,
		"browsers found: checked at once, not after the doubled wait, and announced early")
	require.Equal(t, time.Hour, gap())
	respond(10) // the early announce's response arms the next check
	check(2, 10)
	require.Equal(t, int32(3), early(), "offers taken, browsers left: announce early")
	require.Equal(t, time.Hour, gap())
	check(0, 10)
	require.Equal(t, int32(4), early(), "nothing taken: still early, after a longer wait")
	require.Equal(t, 2*time.Hour, gap())
	check(0, 10)
	require.Equal(t, int32(4), early(), "the wait reached the tracker's interval")
	check(1, 10)
	require.Equal(t, int32(5), early(), "an offer taken again: early once more")
	require.Equal(t, time.Hour, gap())
	require.Equal(t, 5.0, metricValue(t, reg, "superpeer_early_announces_total", "t", "main-0", "2.3"))

	for i := range 4 { // 4 browsers connected: peers.max_per_swarm
		id := fmt.Sprintf("browser-%02d-xxxxxxxxx", i)
		sw.peers[id] = &peer{remoteID: id}
	}
	check(1, 10)
	require.Equal(t, int32(5), early(), "the swarm is full")

	env.offering = false
	sw.closePending() // stops the armed check
	respond(10)
	sw.mu.Lock()
	require.Nil(t, sw.refill.timer, "no offers, no early announces")
	sw.mu.Unlock()
}
