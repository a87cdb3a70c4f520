package trackerserver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/tracker"
)

// TestServerImpersonatingTheSeed attacks the seed's swarm membership the way
// a hostile browser would: the seed (package tracker's client with the
// trusted token, as superpeer joins its embedded tracker) is in a swarm; a
// hostile client announces the seed's peer id, which every browser the seed
// offers to learns, in the same swarm, and answers as the seed. Both are
// refused and counted; a browser's offer still reaches the seed, and the
// impostor receives nothing meant for it.
func TestServerImpersonatingTheSeed(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.TrustedToken = "seed-secret" })
	ih, seedID := ids("seed")
	_, browserID := ids("browser")
	_, hostileID := ids("hostile")

	seed, err := tracker.NewClient(tracker.Config{URL: h.url, Header: http.Header{TrustedTokenHeader: {"seed-secret"}},
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	require.NoError(t, err)
	f := newFakeSwarm("seed")
	_, err = seed.Join(ih, seedID, f)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- seed.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	recv(t, f.responses)

	hostile := h.dial(nil)
	hostile.send(announceMsg(ih, seedID, "started", 0))
	m, _ := hostile.next()
	require.Equal(t, failPeerIDInUse, m.FailureReason)
	hostile.send(answerMsg(ih, seedID, browserID, "offer-x", "sdp"))
	m, _ = hostile.next()
	require.Equal(t, failPeerIDInUse, m.FailureReason)
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.conflicts.WithLabelValues(conflictTrusted)))
	// Under an id of its own the hostile client is an ordinary member.
	hostile.send(announceMsg(ih, hostileID, "started", 0))
	m, _ = hostile.next()
	require.Empty(t, m.FailureReason)

	// A browser offers to every other member: the seed gets its offer under
	// the browser's id, the impostor gets one as itself only.
	browser := h.dial(nil)
	browser.send(announceMsg(ih, browserID, "started", 5, testOffer("offer-1", "sdp-1"), testOffer("offer-2", "sdp-2")))
	m, _ = browser.next()
	require.Empty(t, m.FailureReason)
	require.Equal(t, int64(3), *m.Incomplete)
	o := recv(t, f.offers)
	require.Equal(t, browserID, o.PeerID)
	m, _ = hostile.next()
	require.Equal(t, browserID, m.PeerID)
	require.NotNil(t, m.Offer)
	hostile.none(50 * time.Millisecond)

	// The seed's answer reaches the browser as the seed's.
	require.NoError(t, seed.Answer(o, "v=0\r\ns=seed\r\n"))
	m, _ = browser.next()
	require.Equal(t, seedID, m.PeerID)
	require.Equal(t, Stats{Connections: 3, Peers: 3, PeerIDs: 3, Swarms: 1}, h.srv.Stats())
}

// TestServerPeerIDOnTwoSockets: an ordinary client's peer id stays with the
// socket that announced it while that socket is open; a second socket
// claiming it is refused and counted, and may have it once the first is
// gone. A holder that does not answer the ping sent on such a claim is
// closed, so a browser reconnecting after a network change is not locked
// out for a whole IdleTimeout.
func TestServerPeerIDOnTwoSockets(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.probeTimeout = 200 * time.Millisecond })
	ih, pid := ids("move")
	_, other := ids("other")
	a, b := h.dial(nil), h.dial(nil)
	a.send(announceMsg(ih, pid, "started", 5))
	a.next()
	b.send(announceMsg(ih, pid, "started", 5))
	m, _ := b.next()
	require.Equal(t, failPeerIDInUse, m.FailureReason)
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.conflicts.WithLabelValues(conflictLive)))
	require.Equal(t, Stats{Connections: 2, Peers: 1, PeerIDs: 1, Swarms: 1}, h.srv.Stats())

	// Answers to pid still go to a, which answered the probe (its reader
	// handles pings) and stays open past the probe timeout.
	require.Eventually(t, func() bool { return !h.probing() }, waitFor, time.Millisecond, "a's pong ends the probe")
	c := h.dial(nil)
	c.send(answerMsg(ih, other, pid, "offer-x", "sdp"))
	m, _ = a.next()
	require.Equal(t, other, m.PeerID)
	b.none(50 * time.Millisecond)

	// Once a is gone the id is free.
	a.close()
	require.Eventually(t, func() bool { return h.srv.Stats().Peers == 0 }, waitFor, time.Millisecond)
	b.send(announceMsg(ih, pid, "started", 5))
	m, _ = b.next()
	require.Empty(t, m.FailureReason)

	// A holder that reads nothing does not answer the probe and is closed.
	_, pid2 := ids("silent")
	silent, _, err := (&websocket.Dialer{}).Dial(h.url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	require.NoError(t, silent.WriteMessage(websocket.TextMessage, announceMsg(ih, pid2, "started", 0).AppendJSON(nil)))
	require.Eventually(t, func() bool { return h.srv.Stats().PeerIDs == 2 }, waitFor, time.Millisecond)
	b.send(announceMsg(ih, pid2, "", 0))
	m, _ = b.next()
	require.Equal(t, failPeerIDInUse, m.FailureReason)
	require.Eventually(t, func() bool { return h.srv.Stats().PeerIDs == 1 }, waitFor, 10*time.Millisecond,
		"the silent holder is closed after the probe timeout")
	b.send(announceMsg(ih, pid2, "", 0))
	m, _ = b.next()
	require.Empty(t, m.FailureReason)
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.conflicts.WithLabelValues(conflictLive)))
}

// probing reports whether a connection has a probe unanswered.
func (h *serverHarness) probing() bool {
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	for c := range h.srv.conns {
		if c.probing.Load() {
			return true
		}
	}
	return false
}
