package trackerserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
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

// dialFrom opens a WebSocket to the server from the local address ip (on
// Linux all of 127/8 is local), as a client at that address would.
func (h *serverHarness) dialFrom(ip string, header http.Header) (*websocket.Conn, error) {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: waitFor}
	d := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: waitFor}
	ws, resp, err := d.Dial(h.url, header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial from %s: http %d: %w", ip, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("dial from %s: %w", ip, err)
	}
	h.t.Cleanup(func() { _ = ws.Close() })
	return ws, nil
}

// TestServerPerSourceLimits attacks the connection limit from one source:
// one address opens sockets until it is refused with 429, and so does one
// /24, while another address and another /24 are still admitted, and so is
// superpeer's own connection (trusted) from the exhausted address, and
// beyond MaxPeers. A closed socket gives its address a slot back.
func TestServerPerSourceLimits(t *testing.T) {
	h := newServerHarness(t, func(c *Config) {
		c.MaxPeers, c.MaxPeersPerIP, c.MaxPeersPerPrefix = 6, 2, 3
		c.TrustedToken = "seed-secret"
	})
	rejected := func(reason string) float64 { return testutil.ToFloat64(h.m.rejected.WithLabelValues(reason)) }
	first, err := h.dialFrom("127.0.0.1", nil)
	require.NoError(t, err)
	_, err = h.dialFrom("127.0.0.1", nil)
	require.NoError(t, err)
	_, err = h.dialFrom("127.0.0.1", nil)
	require.ErrorContains(t, err, "http 429", "third socket from one address")
	require.Equal(t, 1.0, rejected(rejectIPLimit))

	_, err = h.dialFrom("127.0.0.2", nil)
	require.NoError(t, err, "another address")
	_, err = h.dialFrom("127.0.0.3", nil)
	require.ErrorContains(t, err, "http 429", "fourth socket from one /24")
	require.Equal(t, 1.0, rejected(rejectPrefixLimit))
	_, err = h.dialFrom("127.0.1.1", nil)
	require.NoError(t, err, "another /24")

	// The seed is admitted from the exhausted address, past MaxPeers too.
	var seed *websocket.Conn
	for range 3 {
		seed, err = h.dialFrom("127.0.0.1", http.Header{TrustedTokenHeader: {"seed-secret"}})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return h.srv.Stats().Connections == 7 }, waitFor, time.Millisecond)
	_, err = h.dialFrom("127.0.2.1", nil)
	require.ErrorContains(t, err, "http 503", "over MaxPeers")

	require.NoError(t, first.Close())
	require.NoError(t, seed.Close())
	require.Eventually(t, func() bool { return h.srv.Stats().Connections == 5 }, waitFor, time.Millisecond)
	_, err = h.dialFrom("127.0.0.3", nil)
	require.NoError(t, err, "a closed socket frees its slot in the address and the /24")
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.connectionsPerIPLimit))
	require.Equal(t, 3.0, testutil.ToFloat64(h.m.connectionsPerPrefixLimit))
}

func TestServerClientAddr(t *testing.T) {
	s, err := New(Config{Logger: zerolog.Nop(), TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"direct ignores forwarded-for", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"ipv4-mapped", "[::ffff:203.0.113.7]:5000", nil, "203.0.113.7"},
		{"proxy", "10.0.0.2:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"proxy chain, spoofed left entry", "10.0.0.2:5000", []string{"1.2.3.4, 198.51.100.1, 10.1.1.1"}, "198.51.100.1"},
		{"several headers", "10.0.0.2:5000", []string{"1.2.3.4", "198.51.100.1"}, "198.51.100.1"},
		{"ipv6 proxy", "[fd00::1]:5000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"proxy without header", "10.0.0.2:5000", nil, "10.0.0.2"},
		{"garbage entry", "10.0.0.2:5000", []string{"nonsense"}, "10.0.0.2"},
		{"unparsable remote", "pipe", nil, "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			require.Equal(t, tc.want, s.clientAddr(r).String())
		})
	}
	require.Equal(t, "2001:db8:1:2::/64", sourcePrefix(netip.MustParseAddr("2001:db8:1:2:3::9")).String())
	require.Equal(t, "198.51.100.0/24", sourcePrefix(netip.MustParseAddr("198.51.100.77")).String())
}

// TestServerTrustedProxy: behind a trusted proxy, the limit applies to the
// address X-Forwarded-For names, not to the proxy; from anyone else the
// header is ignored.
func TestServerTrustedProxy(t *testing.T) {
	h := newServerHarness(t, func(c *Config) {
		c.MaxPeersPerIP = 1
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	xff := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	_, err := h.dialFrom("127.0.0.1", xff("198.51.100.1"))
	require.NoError(t, err)
	_, err = h.dialFrom("127.0.0.1", xff("198.51.100.2"))
	require.NoError(t, err, "another client through the same proxy")
	_, err = h.dialFrom("127.0.0.1", xff("198.51.100.1"))
	require.ErrorContains(t, err, "http 429")
	_, err = h.dialFrom("127.0.0.2", xff("198.51.100.3"))
	require.NoError(t, err)
	_, err = h.dialFrom("127.0.0.2", xff("198.51.100.4"))
	require.ErrorContains(t, err, "http 429", "not a proxy: its header is ignored")
}

// readUntilClosed reads from a raw connection until the server closes it,
// failing after waitFor.
func readUntilClosed(t *testing.T, c net.Conn) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	b, err := io.ReadAll(c)
	require.NoError(t, err, "the server should have closed the connection")
	return b
}

const rawUpgrade = "GET /announce HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// TestServerSilentWebSocket: a raw TCP client completes the upgrade and then
// sends nothing, or only pongs, which do not count as a first message; it is
// closed after FirstMessageTimeout, not after IdleTimeout, and counted.
func TestServerSilentWebSocket(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.FirstMessageTimeout = 100 * time.Millisecond })
	for _, tc := range []struct {
		name  string
		after []byte
	}{
		{"nothing", nil},
		{"unsolicited pong", []byte{0x8a, 0x80, 1, 2, 3, 4}}, // FIN pong, masked, empty
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", h.ts.Listener.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Write([]byte(rawUpgrade))
			require.NoError(t, err)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			_, err = c.Write(tc.after)
			require.NoError(t, err)
			readUntilClosed(t, c)
		})
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(h.m.closed.WithLabelValues(closeNoMessage)) == 2
	}, waitFor, time.Millisecond)
	// The count drops when the connection's goroutine ends, just after.
	require.Eventually(t, func() bool { return h.srv.Stats().Connections == 0 }, waitFor, time.Millisecond)
}

// TestServerHTTPTimeouts attacks the listener NewHTTPServer serves with raw
// TCP clients: one connects and sends nothing, one sends half a header, one
// completes a plain GET and keeps the connection alive. Each is closed after
// HeaderTimeout or KeepAliveTimeout, and the gauge of open connections
// counts them while they last.
func TestServerHTTPTimeouts(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	srv, err := New(Config{Logger: zerolog.Nop(), Metrics: m,
		HeaderTimeout: 150 * time.Millisecond, KeepAliveTimeout: 150 * time.Millisecond})
	require.NoError(t, err)
	hs := srv.NewHTTPServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, hs.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
	})

	dial := func(send string) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.Write([]byte(send))
		require.NoError(t, err)
		return c
	}
	silent := dial("")
	partial := dial("GET / HTTP/1.1\r\nHost: x\r\n")
	keepAlive := dial("GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Eventually(t, func() bool { return testutil.ToFloat64(m.httpConns) == 3 }, waitFor, time.Millisecond)

	readUntilClosed(t, silent)
	readUntilClosed(t, partial)
	b := readUntilClosed(t, keepAlive)
	require.Contains(t, string(b), "HTTP/1.1 200 OK")
	require.Contains(t, string(b), "superpeer WebTorrent tracker")
	require.Eventually(t, func() bool { return testutil.ToFloat64(m.httpConns) == 0 }, waitFor, time.Millisecond)
}

// TestServerPendingConnectionLimits attacks the listener with connections
// that never upgrade: one address opens raw TCP connections, some silent,
// some with half a request. Past MaxPendingPerIP they are closed as they
// are accepted and counted, while a browser from another address still
// upgrades (and stops counting once it has). Past MaxPending, from any
// address, the same. Closing the attacker's connections gives the slots
// back.
func TestServerPendingConnectionLimits(t *testing.T) {
	h := newServerHarness(t, func(c *Config) {
		c.MaxPendingPerIP, c.MaxPending = 4, 6
		c.HeaderTimeout = time.Minute // the attacker holds what it gets
	})
	pl := h.ts.Listener.(*pendingListener)
	rejected := func(reason string) float64 { return testutil.ToFloat64(h.m.rejected.WithLabelValues(reason)) }
	addr := h.ts.Listener.Addr().String()
	raw := func(from, send string) net.Conn {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: waitFor}
		c, err := nd.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		if send != "" {
			_, _ = c.Write([]byte(send))
		}
		return c
	}
	// open reports whether the server keeps c open (a read times out
	// rather than ending).
	open := func(c net.Conn) bool {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	attacker := netip.MustParseAddr("127.0.0.1")

	var conns []net.Conn
	for i := range 20 {
		send := ""
		if i%2 == 1 {
			send = "GET / HTTP/1.1\r\nHost: x\r\n" // never finished
		}
		conns = append(conns, raw("127.0.0.1", send))
	}
	kept := 0
	for _, c := range conns {
		if open(c) {
			kept++
		}
	}
	require.Equal(t, 4, kept, "connections from one address held open")
	require.Equal(t, 16.0, rejected(rejectPendingIPLimit))
	total, fromAttacker := pl.pending(attacker)
	require.Equal(t, 4, total)
	require.Equal(t, 4, fromAttacker)

	// A browser elsewhere still gets its WebSocket, and then no longer
	// counts as pending.
	ws, err := h.dialFrom("127.0.0.2", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { total, _ := pl.pending(attacker); return total == 4 }, waitFor, time.Millisecond)
	_ = ws

	// Other addresses fill what is left of MaxPending; then anyone is refused.
	raw("127.0.0.3", "")
	raw("127.0.0.4", "")
	require.Eventually(t, func() bool { total, _ := pl.pending(attacker); return total == 6 }, waitFor, time.Millisecond)
	late := raw("127.0.0.5", "")
	require.False(t, open(late), "past MaxPending")
	require.Equal(t, 1.0, rejected(rejectPendingLimit))

	for _, c := range conns {
		_ = c.Close()
	}
	require.Eventually(t, func() bool { total, n := pl.pending(attacker); return total == 2 && n == 0 }, waitFor, time.Millisecond)
	_, err = h.dialFrom("127.0.0.1", nil)
	require.NoError(t, err, "the attacker's address is admitted again once its connections are gone")
}

// TestServerPendingFromTrustedProxy: every client behind a trusted proxy
// arrives from its address, so the per-address pending limit does not apply
// to it; MaxPending still does.
func TestServerPendingFromTrustedProxy(t *testing.T) {
	h := newServerHarness(t, func(c *Config) {
		c.MaxPendingPerIP, c.MaxPending = 2, 5
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}
		c.HeaderTimeout = time.Minute
	})
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}, Timeout: waitFor}
	for range 7 {
		c, err := nd.Dial("tcp", h.ts.Listener.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
	}
	pl := h.ts.Listener.(*pendingListener)
	require.Eventually(t, func() bool {
		total, n := pl.pending(netip.MustParseAddr("127.0.0.9"))
		return total == 5 && n == 5 && testutil.ToFloat64(h.m.rejected.WithLabelValues(rejectPendingLimit)) == 2
	}, waitFor, time.Millisecond)
	require.Zero(t, testutil.ToFloat64(h.m.rejected.WithLabelValues(rejectPendingIPLimit)))
}
