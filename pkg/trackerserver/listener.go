package trackerserver

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Listener wraps the tracker's TCP listener so that connections which have
// not (yet) become WebSockets are bounded before a byte of them is read: at
// most MaxPendingPerIP from one address and MaxPending in all. A connection
// over either is closed as it is accepted and counted in
// superpeer_tracker_server_rejected_connections_total (reason
// pending_ip_limit or pending_limit). One that completes its upgrade, or
// closes, stops counting (NewHTTPServer's ConnState reports both).
//
// Connections from TrustedProxies are held only to MaxPending: every client
// behind a proxy arrives from its address, and the per-client limits then
// apply after the upgrade, to the X-Forwarded-For address. Browsers open one
// connection per tracker URL and upgrade it within a round trip, so honest
// clients hold a pending connection for milliseconds; what these limits
// stop is one source holding thousands of raw or half-sent requests (each a
// descriptor and a goroutine until HeaderTimeout) while others wait.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &pendingListener{Listener: ln, s: s, perIP: map[netip.Addr]int{}}
}

type pendingListener struct {
	net.Listener
	s *Server

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
}

// Accept returns the next connection within the limits; those over them are
// closed here and never reach the HTTP server.
func (l *pendingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := remoteAddr(c)
		if reason := l.admit(src); reason != "" {
			// Counted before the close, so that whoever sees the close
			// sees it counted.
			l.s.m.rejected.WithLabelValues(reason).Inc()
			_ = c.Close()
			l.s.warn.Warn().Str("reason", reason).Str("source", src.String()).
				Msg("tracker connection closed at accept: too many not yet upgraded")
			continue
		}
		return &pendingConn{Conn: c, l: l, src: src}, nil
	}
}

func (l *pendingListener) admit(src netip.Addr) string {
	proxy := l.s.trustedProxy(src)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.s.cfg.MaxPending:
		return rejectPendingLimit
	case !proxy && l.perIP[src] >= l.s.cfg.MaxPendingPerIP:
		return rejectPendingIPLimit
	}
	l.total++
	l.perIP[src]++
	return ""
}

func (l *pendingListener) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[src]--; l.perIP[src] <= 0 {
		delete(l.perIP, src)
	}
}

// pending reports the connections counted, in all and from src (tests).
func (l *pendingListener) pending(src netip.Addr) (total, fromSrc int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.perIP[src]
}

// pendingConn is an accepted connection counted until it is upgraded or
// closed.
type pendingConn struct {
	net.Conn
	l        *pendingListener
	src      netip.Addr
	released atomic.Bool
}

// upgraded stops counting the connection (idempotent).
func (c *pendingConn) upgraded() {
	if c.released.CompareAndSwap(false, true) {
		c.l.release(c.src)
	}
}

// Close closes the connection and stops counting it.
func (c *pendingConn) Close() error {
	c.upgraded()
	return c.Conn.Close()
}

func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
