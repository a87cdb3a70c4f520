package trackerserver

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/wire"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Interval is the announce interval told to clients (default 60 s, at
	// least 1 s; sent in whole seconds). A membership that has not been
	// re-announced for 2 × Interval expires.
	Interval time.Duration
	// MaxOffers bounds the offers relayed per announce (default 20, wt-tracker's
	// maxOffers).
	MaxOffers int
	// MaxPeers bounds the open connections (default 10000); an upgrade beyond
	// it is refused with 503 and counted. Trusted connections are admitted
	// beyond it.
	MaxPeers int
	// MaxPeersPerIP bounds the open connections from one client address
	// (default 64), and MaxPeersPerPrefix those from one /24 (IPv4) or /64
	// (IPv6) (default 256), so that one source cannot hold all of MaxPeers.
	// An upgrade beyond either is refused with 429 and counted. Trusted
	// connections are neither limited nor counted.
	MaxPeersPerIP     int
	MaxPeersPerPrefix int
	// TrustedProxies lists the reverse proxies (a TLS terminator, a load
	// balancer) whose X-Forwarded-For header names the client: for a
	// request from one of them, the client address is the right-most
	// X-Forwarded-For entry that is not itself a trusted proxy. Without it,
	// every client behind a proxy shares the proxy's address, and so
	// MaxPeersPerIP.
	TrustedProxies []netip.Prefix
	// MaxSwarms bounds the swarms (default 100000).
	MaxSwarms int
	// MaxPeersPerSwarm bounds the members of one swarm (default 5000).
	MaxPeersPerSwarm int
	// MaxSwarmsPerConn bounds the memberships one connection may hold
	// (default 64), so one client cannot use up MaxSwarms alone. Browsers hold
	// one or two per player (P2PML 2.x: main and secondary stream).
	MaxSwarmsPerConn int
	// AllowedOrigins, if not empty, lists the page origins allowed to connect:
	// exact origins ("https://example.com", compared case-insensitively),
	// "*.example.com" for any scheme and port on a subdomain of example.com (not
	// example.com itself), or "*" for any. A request without an Origin header
	// is then refused (as wt-tracker's allowOrigins does). Empty allows all.
	AllowedOrigins []string
	// MaxMessageBytes bounds an incoming frame, on the wire and inflated
	// (default 64 KiB, wt-tracker's maxPayloadLength). A larger frame closes
	// the connection with 1009.
	MaxMessageBytes int64
	// SendQueue bounds the frames waiting for one connection's writer (default
	// 64). When it is full the oldest frame is dropped and counted.
	SendQueue int
	// MaxMessageRate bounds the messages per second a connection may send,
	// per swarm membership it holds (at least one), with bursts of 10 × that
	// (default 10; negative disables). Messages over it are dropped and
	// counted. Traffic grows with memberships: a browser sends one announce
	// per swarm per Interval plus one answer per offer relayed to it (about as
	// many per swarm, whatever the swarm size), and a seeder multiplexes all
	// its swarms over one socket.
	MaxMessageRate float64
	// IdleTimeout closes a connection that sent nothing (no message, no pong)
	// for this long (default 2 × Interval + 30 s). Browsers announce every
	// Interval; package tracker's client also pings.
	IdleTimeout time.Duration
	// FirstMessageTimeout closes a WebSocket whose first message has not
	// arrived this long after the upgrade (default 10 s; browsers announce
	// at once), so sockets opened and left silent do not hold a slot for a
	// whole IdleTimeout. Trusted connections are exempt.
	FirstMessageTimeout time.Duration
	// HeaderTimeout bounds reading a request's header and body, and
	// KeepAliveTimeout an idle plain-HTTP keep-alive connection, on the
	// http.Server that NewHTTPServer returns (defaults 10 s and 15 s).
	HeaderTimeout    time.Duration
	KeepAliveTimeout time.Duration
	// MaxPendingPerIP and MaxPending bound the TCP connections that have
	// not (yet) upgraded to a WebSocket, from one address and in all
	// (defaults 32 and 1024), on a listener wrapped by Listener. Excess
	// connections are closed at accept and counted.
	MaxPendingPerIP int
	MaxPending      int
	// TrustedToken, if set, marks connections whose upgrade request carries
	// it in the TrustedTokenHeader header as trusted: a seed that joins
	// every swarm of many streams over one socket. They skip the origin
	// check and are not held to MaxSwarmsPerConn nor MaxMessageRate, which
	// size a browser, and every announce in their swarms relays its first
	// offer to them. Use a long random value known only to the seed.
	TrustedToken string
	// Logger receives the server's logs (component=tracker_server).
	Logger zerolog.Logger
	// Metrics receives the server's metrics (NewMetrics); nil keeps them
	// private.
	Metrics *Metrics
	// Now returns the current time (default time.Now); announce times and
	// expiry use it.
	Now func() time.Time

	// sweepEvery is the expiry period (default Interval / 2), shortened by tests.
	sweepEvery time.Duration
	// probeTimeout is how long a connection has to answer a ping when
	// another claims one of its peer ids (default 10 s), shortened by tests.
	probeTimeout time.Duration
}

const (
	// handshakeTimeout bounds the WebSocket upgrade.
	handshakeTimeout   = 10 * time.Second
	serverWriteTimeout = 10 * time.Second
	shutdownTimeout    = 2 * time.Second
	// maxStrikes is the number of consecutive invalid messages after which a
	// connection is closed with 1008 (policy violation).
	maxStrikes = 16
	// maxScrapeHashes bounds the info hashes of one scrape request.
	maxScrapeHashes = 64
	// readBufferSize is the per-connection read buffer. Frames are read
	// through it into pooled buffers, so a small one saves memory per idle
	// connection without costing syscalls for large frames.
	readBufferSize = 256
	// readPoolBufferSize is the initial size of pooled read buffers.
	readPoolBufferSize = 16 << 10
	// maxPooledBuffer is the largest buffer kept for reuse.
	maxPooledBuffer = 64 << 10
)

func (cfg *Config) setDefaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if cfg.Interval == 0 {
		cfg.Interval = 60 * time.Second
	}
	def(&cfg.MaxOffers, 20)
	def(&cfg.MaxPeers, 10000)
	def(&cfg.MaxPeersPerIP, 64)
	def(&cfg.MaxPeersPerPrefix, 256)
	def(&cfg.MaxSwarms, 100000)
	def(&cfg.MaxPeersPerSwarm, 5000)
	def(&cfg.MaxSwarmsPerConn, 64)
	def(&cfg.SendQueue, 64)
	def(&cfg.MaxPendingPerIP, 32)
	def(&cfg.MaxPending, 1024)
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 64 << 10
	}
	if cfg.MaxMessageRate == 0 {
		cfg.MaxMessageRate = 10
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2*cfg.Interval + 30*time.Second
	}
	if cfg.FirstMessageTimeout == 0 {
		cfg.FirstMessageTimeout = 10 * time.Second
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = 10 * time.Second
	}
	if cfg.KeepAliveTimeout == 0 {
		cfg.KeepAliveTimeout = 15 * time.Second
	}
	if cfg.sweepEvery == 0 {
		cfg.sweepEvery = cfg.Interval / 2
	}
	if cfg.probeTimeout == 0 {
		cfg.probeTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	var errs []error
	if cfg.Interval < time.Second {
		errs = append(errs, fmt.Errorf("interval %s: want at least 1s", cfg.Interval))
	}
	for name, v := range map[string]int{"max offers": cfg.MaxOffers, "max peers": cfg.MaxPeers,
		"max peers per ip": cfg.MaxPeersPerIP, "max peers per prefix": cfg.MaxPeersPerPrefix, "max swarms": cfg.MaxSwarms,
		"max peers per swarm": cfg.MaxPeersPerSwarm, "max swarms per conn": cfg.MaxSwarmsPerConn, "send queue": cfg.SendQueue,
		"max pending per ip": cfg.MaxPendingPerIP, "max pending": cfg.MaxPending} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s %d: want > 0", name, v))
		}
	}
	if cfg.MaxMessageBytes < 256 {
		errs = append(errs, fmt.Errorf("max message bytes %d: want at least 256", cfg.MaxMessageBytes))
	}
	for name, d := range map[string]time.Duration{"idle timeout": cfg.IdleTimeout, "first message timeout": cfg.FirstMessageTimeout,
		"header timeout": cfg.HeaderTimeout, "keep-alive timeout": cfg.KeepAliveTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: want > 0", name, d))
		}
	}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("trusted proxy %s: want a CIDR", p))
		}
	}
	for _, o := range cfg.AllowedOrigins {
		if err := checkOriginPattern(o); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Server is an embedded WebTorrent tracker: the signalling server P2P Media
// Loader browsers (2.3, 2.2 and 0.6, whose bittorrent-tracker clients speak
// the same dialect) and package tracker's Client announce to. It follows
// Novage/wt-tracker's FastTracker (src/fast-tracker.ts) with the deviations
// listed in the package doc. It is an http.Handler; Run owns expiry and
// shutdown.
//
// Concurrency: every connection has one reader goroutine and, while it has
// frames to send, one writer goroutine fed by a bounded queue. The swarm state
// is guarded by one mutex, held only for map and slice updates; JSON decoding
// and encoding happen outside it, on the reader of the connection that sent
// the message. See docs/tracker-benchmark.md for the measurements behind these
// choices (a mutex rather than an owner goroutine, writers on demand, frames
// written in batches, SDP relayed without being decoded).
type Server struct {
	cfg      Config
	log      zerolog.Logger
	warn     zerolog.Logger // sampled
	m        *serverCounters
	upgrader websocket.Upgrader
	interval int64     // seconds, as told to clients
	bufs     sync.Pool // outgoing frames
	rbufs    sync.Pool // incoming frames
	msgs     sync.Pool // *wire.RawTrackerMessage, shared by the readers (not one per connection)
	running  atomic.Bool
	nconns   atomic.Int64 // open connections plus upgrades in progress
	wg       sync.WaitGroup

	mu       sync.Mutex
	closing  bool
	conns    map[*sconn]struct{}
	swarms   map[id20]*tswarm
	peers    map[id20]*tpeer
	nMembers int

	srcmu     sync.Mutex
	perIP     map[netip.Addr]int   // open connections by client address
	perPrefix map[netip.Prefix]int // and by /24 or /64
}

// TrustedTokenHeader carries Config.TrustedToken in a client's
// upgrade request (tracker.Config.Header of package tracker's Client).
const TrustedTokenHeader = "X-Superpeer-Tracker-Token"

// Stats is a snapshot of a Server's state, for a status page.
type Stats struct {
	Connections int `json:"connections"`
	// Peers counts memberships: a peer id in a swarm.
	Peers int `json:"peers"`
	// PeerIDs counts distinct peer ids.
	PeerIDs int `json:"peerIds"`
	Swarms  int `json:"swarms"`
}

// New checks cfg and returns a Server. It serves connections at once;
// expiry and shutdown need Run.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		m:         cfg.Metrics.counters(),
		interval:  int64(cfg.Interval / time.Second),
		conns:     map[*sconn]struct{}{},
		swarms:    map[id20]*tswarm{},
		peers:     map[id20]*tpeer{},
		perIP:     map[netip.Addr]int{},
		perPrefix: map[netip.Prefix]int{},
		upgrader: websocket.Upgrader{
			HandshakeTimeout: handshakeTimeout,
			ReadBufferSize:   readBufferSize,
			// Data frames bypass gorilla's writer (see writeLoop); with a
			// pool it never allocates a per-connection write buffer.
			WriteBufferPool:   &sync.Pool{},
			EnableCompression: true,
			// Origins are checked by ServeHTTP before the upgrade, so that
			// the refusal is counted; gorilla's same-origin default would
			// refuse every browser.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	s.msgs.New = func() any { return new(wire.RawTrackerMessage) }
	s.log = cfg.Logger.With().Str("component", "tracker_server").Logger()
	s.warn = s.log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute})
	cfg.Metrics.connectionsLimit.Set(float64(cfg.MaxPeers))
	cfg.Metrics.connectionsPerIPLimit.Set(float64(cfg.MaxPeersPerIP))
	cfg.Metrics.connectionsPerPrefixLimit.Set(float64(cfg.MaxPeersPerPrefix))
	cfg.Metrics.swarmsLimit.Set(float64(cfg.MaxSwarms))
	cfg.Metrics.peersPerSwarmLimit.Set(float64(cfg.MaxPeersPerSwarm))
	s.m.connections.Set(0)
	s.m.peers.Set(0)
	s.m.swarms.Set(0)
	return s, nil
}

// Stats returns the current numbers of connections, memberships, peer ids and
// swarms.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Connections: len(s.conns), Peers: s.nMembers, PeerIDs: len(s.peers), Swarms: len(s.swarms)}
}

// Run expires memberships that missed two announces until ctx ends; then it
// closes every connection with 1001 (going away), waits for their goroutines
// and returns nil. Later upgrades are refused with 503.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	t := time.NewTicker(s.cfg.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case <-t.C:
			s.expire(s.cfg.Now())
		}
	}
}

func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	conns := make([]*sconn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// One deadline for all: a client that does not read cannot hold up the
	// others.
	deadline := time.Now().Add(shutdownTimeout)
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "")
	for _, c := range conns {
		c.closeReason.CompareAndSwap(nil, &reasonShutdown)
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, deadline)
		_ = c.ws.Close()
	}
	s.wg.Wait()
	s.log.Info().Int("connections", len(conns)).Msg("tracker server stopped")
}

// NewHTTPServer returns an http.Server for the tracker's own listener: s as
// its handler, HeaderTimeout for reading a request, KeepAliveTimeout for an
// idle keep-alive connection (so that sockets which never complete a
// request, or finish one and stay open, are closed), and the TCP
// connections it serves, until they are upgraded or closed, counted in
// superpeer_tracker_server_http_connections. Serve it with Serve(ln); Run
// still owns the WebSockets.
func (s *Server) NewHTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		ReadTimeout:       s.cfg.HeaderTimeout, // the upgraded reader sets its own deadlines
		WriteTimeout:      s.cfg.HeaderTimeout, // and so does the writer
		IdleTimeout:       s.cfg.KeepAliveTimeout,
		MaxHeaderBytes:    16 << 10,
		ConnState:         s.connState,
		ErrorLog:          log.New(io.Discard, "", 0), // handshake noise from scanners
	}
}

// connState counts the connections of NewHTTPServer's server, and ends
// Listener's count of a connection once it is upgraded or closed.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.m.httpConns.Inc()
	case http.StateHijacked, http.StateClosed:
		s.m.httpConns.Dec()
		if pc, ok := c.(*pendingConn); ok {
			pc.upgraded()
		}
	}
}

// ServeHTTP upgrades a request on any path to a tracker WebSocket, after the
// origin and connection-limit checks, and returns; the connection is served by
// its own goroutines until it ends or Run stops. A request without an upgrade
// gets the stats as text, or as JSON when the path ends in ".json".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		s.serveStats(w, r)
		return
	}
	trusted := s.cfg.TrustedToken != "" &&
		subtle.ConstantTimeCompare([]byte(r.Header.Get(TrustedTokenHeader)), []byte(s.cfg.TrustedToken)) == 1
	if !trusted && !originAllowed(s.cfg.AllowedOrigins, r.Header.Get("Origin")) {
		s.m.rejected.WithLabelValues(rejectOrigin).Inc()
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	// Superpeer's own connection is admitted whatever the others hold.
	var src netip.Addr
	if !trusted {
		src = s.clientAddr(r)
		if reason := s.admitSource(src); reason != "" {
			s.m.rejected.WithLabelValues(reason).Inc()
			s.warn.Warn().Str("reason", reason).Msg("tracker connection refused: too many from one source")
			http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
			return
		}
	}
	// From here src counts this connection until its reader ends.
	if n := s.nconns.Add(1); n > int64(s.cfg.MaxPeers) && !trusted {
		s.nconns.Add(-1)
		s.releaseSource(src)
		s.m.rejected.WithLabelValues(rejectLimit).Inc()
		s.warn.Warn().Int("limit", s.cfg.MaxPeers).Msg("tracker connection limit reached")
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	// From here nconns counts this connection until its reader ends.
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		s.nconns.Add(-1)
		s.releaseSource(src)
		s.m.rejected.WithLabelValues(rejectShutdown).Inc()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil) // writes the HTTP error itself
	if err != nil {
		s.nconns.Add(-1)
		s.releaseSource(src)
		s.m.rejected.WithLabelValues(rejectHandshake).Inc()
		return
	}
	// permessage-deflate is negotiated (browsers offer it) and compressed
	// frames from clients are inflated as usual, but data frames are written
	// uncompressed by writeLoop, which the extension allows per message:
	// compressing one ~1.5 KB SDP at a time costs more CPU than it saves
	// (wt-tracker's JS server does not compress either).
	ws.SetReadLimit(s.cfg.MaxMessageBytes)
	c := &sconn{s: s, ws: ws, trusted: trusted}

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.nconns.Add(-1)
		s.releaseSource(src)
		s.m.rejected.WithLabelValues(rejectShutdown).Inc()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""),
			time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.m.connections.Set(float64(len(s.conns)))
	s.wg.Add(1)
	s.mu.Unlock()

	// The reader gets its own goroutine and ServeHTTP returns: net/http's
	// per-connection state (its 4 KiB read and write buffers, the request, a
	// context, a goroutine stack grown by header parsing) stays referenced
	// for as long as ServeHTTP runs, even after the hijack.
	go func() {
		defer s.wg.Done()
		err := c.readLoop()
		reason := c.endReason(err)
		s.m.closed.WithLabelValues(reason).Inc()
		s.log.Debug().Err(err).Str("reason", reason).Msg("tracker connection closed")
		_ = ws.Close()
		c.closeQueue()
		s.dropConn(c)
		s.nconns.Add(-1)
		s.releaseSource(src)
	}()
}

// clientAddr returns the address of the client that sent r: its peer
// address, or, when that is a trusted proxy, the right-most
// X-Forwarded-For entry that is not (entries left of it could be written by
// anyone). The zero Addr when there is none (no limit applies).
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !s.trustedProxy(addr) {
		return addr
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		entries := strings.Split(xff[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(entries[j]))
			if err != nil {
				return addr // unparsable: stop at the last address vouched for
			}
			addr = a.Unmap()
			if !s.trustedProxy(addr) {
				return addr
			}
		}
	}
	return addr
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sourcePrefix is the network a client address is counted in for
// MaxPeersPerPrefix: a /24 for IPv4, a /64 (one subscriber's usual
// allocation) for IPv6.
func sourcePrefix(a netip.Addr) netip.Prefix {
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits) // cannot fail for a valid address and these sizes
	return p
}

// admitSource counts a connection from a against MaxPeersPerIP and
// MaxPeersPerPrefix, or returns the rejection reason without counting it.
func (s *Server) admitSource(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	p := sourcePrefix(a)
	s.srcmu.Lock()
	defer s.srcmu.Unlock()
	switch {
	case s.perIP[a] >= s.cfg.MaxPeersPerIP:
		return rejectIPLimit
	case s.perPrefix[p] >= s.cfg.MaxPeersPerPrefix:
		return rejectPrefixLimit
	}
	s.perIP[a]++
	s.perPrefix[p]++
	return ""
}

// releaseSource undoes admitSource.
func (s *Server) releaseSource(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	p := sourcePrefix(a)
	s.srcmu.Lock()
	defer s.srcmu.Unlock()
	if s.perIP[a]--; s.perIP[a] <= 0 {
		delete(s.perIP, a)
	}
	if s.perPrefix[p]--; s.perPrefix[p] <= 0 {
		delete(s.perPrefix, p)
	}
}

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	st := s.Stats()
	w.Header().Set("Cache-Control", "no-store")
	if strings.HasSuffix(r.URL.Path, ".json") {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintf(w, "superpeer WebTorrent tracker\nconnections %d\npeers %d\npeer_ids %d\nswarms %d\n",
		st.Connections, st.Peers, st.PeerIDs, st.Swarms)
}

// getBuf returns a pooled buffer for an outgoing frame: frameHeadroom bytes
// reserved for the WebSocket header, then the payload is appended.
func (s *Server) getBuf() *[]byte {
	if bp, ok := s.bufs.Get().(*[]byte); ok {
		*bp = (*bp)[:frameHeadroom]
		return bp
	}
	b := make([]byte, frameHeadroom, 1024)
	return &b
}

func (s *Server) putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuffer {
		s.bufs.Put(bp)
	}
}

// getReadBuf returns a pooled buffer for an incoming frame, large enough for
// a browser's announce (5-10 offers of ~1.3 KB) to arrive in one read.
func (s *Server) getReadBuf() *[]byte {
	if bp, ok := s.rbufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, readPoolBufferSize)
	return &b
}

func (s *Server) putReadBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuffer {
		*bp = (*bp)[:0]
		s.rbufs.Put(bp)
	}
}

// checkOriginPattern validates one AllowedOrigins entry.
func checkOriginPattern(p string) error {
	switch {
	case p == "*":
		return nil
	case strings.HasPrefix(p, "*."):
		if len(p) == 2 || strings.ContainsAny(p[2:], "/:*") {
			return fmt.Errorf("allowed origin %q: want *.domain", p)
		}
		return nil
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("allowed origin %q: want scheme://host[:port], *.domain or *", p)
	}
	return nil
}

// originAllowed reports whether origin matches the allow-list (see
// Config.AllowedOrigins).
func originAllowed(allowed []string, origin string) bool {
	if len(allowed) == 0 {
		return true
	}
	if origin == "" {
		return false
	}
	origin = strings.ToLower(origin)
	var host string
	for _, p := range allowed {
		switch {
		case p == "*":
			return true
		case strings.HasPrefix(p, "*."):
			if host == "" {
				u, err := url.Parse(origin)
				if err != nil {
					continue
				}
				host = u.Hostname()
			}
			if strings.HasSuffix(host, strings.ToLower(p[1:])) {
				return true
			}
		case strings.EqualFold(strings.TrimSuffix(p, "/"), origin):
			return true
		}
	}
	return false
}

// sconn is one client WebSocket: its memberships (under Server.mu), its send
// queue (under qmu) and its reader's private state.
type sconn struct {
	s       *Server
	ws      *websocket.Conn
	trusted bool         // Config.TrustedToken matched: no per-connection limits
	peers   *tpeer       // peers announced over this connection; Server.mu
	nms     int          // their memberships; Server.mu
	members atomic.Int32 // nms, for the reader's rate limit

	qmu     sync.Mutex
	q       []outFrame // frames waiting for the writer
	spare   []outFrame // the writer's previous batch, reused
	writing bool       // a writer goroutine is running
	closed  bool

	closeReason atomic.Pointer[string] // set by whoever decided to close
	probing     atomic.Bool            // probe sent, no sign of life since

	// Reader goroutine only.
	tokens   float64
	refilled int64 // unix nanos of the last token refill
	strikes  int   // consecutive invalid messages
	deadline time.Time
	heard    bool // a message has arrived (or trusted): IdleTimeout applies
}

type outFrame struct {
	bp   *[]byte
	kind uint8
}

// Close reasons, as addressable strings for conn.closeReason.
var (
	reasonOversized  = closeOversized
	reasonAbuse      = closeAbuse
	reasonWriteError = closeWriteError
	reasonShutdown   = closeShutdown
)

// endReason classifies why the reader ended.
func (c *sconn) endReason(err error) string {
	if r := c.closeReason.Load(); r != nil {
		return *r
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		if !c.heard {
			return closeNoMessage
		}
		return closeIdle
	}
	return closeClient
}

// enqueue queues a frame for the writer, dropping the oldest when the queue is
// full, and starts the writer if none runs. The buffer is owned by the queue
// from here on.
func (c *sconn) enqueue(bp *[]byte, kind uint8) {
	s := c.s
	c.qmu.Lock()
	if c.closed {
		c.qmu.Unlock()
		s.putBuf(bp)
		return
	}
	if len(c.q) >= s.cfg.SendQueue {
		// Head-drop: the oldest frame is the most likely to be stale (an
		// offer whose sender has given up, an outdated announce response).
		s.putBuf(c.q[0].bp)
		copy(c.q, c.q[1:])
		c.q[len(c.q)-1] = outFrame{}
		c.q = c.q[:len(c.q)-1]
		s.m.drop[dropQueueFull].Inc()
	}
	c.q = append(c.q, outFrame{bp: bp, kind: kind})
	start := !c.writing
	c.writing = true
	c.qmu.Unlock()
	if start {
		// The reader of c holds a wg count until after closeQueue, and no
		// writer starts once closed is set, so this Add never races Wait
		// from zero.
		s.wg.Add(1)
		go c.writeLoop()
	}
}

// closeQueue stops the writer and frees what it has not written.
func (c *sconn) closeQueue() {
	c.qmu.Lock()
	c.closed = true
	c.release(c.q)
	c.q, c.spare = nil, nil
	c.qmu.Unlock()
}

// writeLoop drains the queue and exits when it is empty: a connection has a
// writer goroutine only while it has frames to send, so an idle connection
// costs one goroutine stack (its reader's), not two.
//
// It is the connection's only writer of data frames, and writes them itself:
// each queued frame gets its header in the headroom before its payload, and a
// whole batch goes out in one writev. Through gorilla every frame would cost
// a copy and a write syscall of its own, the largest CPU cost of a busy
// tracker. Gorilla still writes the control frames (pong, close) from other
// goroutines; that is safe because Go's netFD.Write and Writev hold the
// socket's write lock for the whole call, so frames never interleave.
func (c *sconn) writeLoop() {
	s := c.s
	defer s.wg.Done()
	nc := c.ws.NetConn()
	var iov net.Buffers
	for {
		c.qmu.Lock()
		if c.closed || len(c.q) == 0 {
			c.writing = false
			c.qmu.Unlock()
			return
		}
		batch := c.q
		c.q, c.spare = c.spare[:0], nil
		c.qmu.Unlock()

		iov = iov[:0]
		for _, f := range batch {
			iov = append(iov, textFrame(*f.bp))
		}
		_ = nc.SetWriteDeadline(time.Now().Add(serverWriteTimeout))
		_, err := iov.WriteTo(nc) // consumes iov
		for i, f := range batch {
			s.putBuf(f.bp)
			batch[i] = outFrame{}
			if err == nil {
				s.m.out[f.kind].Inc()
			}
		}
		if err != nil {
			c.closeReason.CompareAndSwap(nil, &reasonWriteError)
			// Closing the socket ends the reader, which cleans up; until then
			// nothing more is queued.
			_ = c.ws.Close()
			c.closeQueue()
			c.qmu.Lock()
			c.writing = false
			c.qmu.Unlock()
			return
		}
		c.qmu.Lock()
		if c.spare == nil {
			c.spare = batch[:0]
		}
		c.qmu.Unlock()
	}
}

// frameHeadroom is the space reserved before each outgoing payload for the
// largest server frame header (RFC 6455 §5.2: 2 bytes, then a 64-bit length;
// no mask from a server).
const frameHeadroom = 10

// textFrame writes the header of an unfragmented, unmasked text frame into the
// headroom of b (headroom, then payload) and returns the frame.
func textFrame(b []byte) []byte {
	n := len(b) - frameHeadroom
	var h []byte
	switch {
	case n < 126:
		h = b[frameHeadroom-2 : frameHeadroom]
		h[1] = byte(n)
	case n <= 0xFFFF:
		h = b[frameHeadroom-4 : frameHeadroom]
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h = b[frameHeadroom-10 : frameHeadroom]
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	h[0] = 0x81 // FIN, opcode text
	return b[frameHeadroom-len(h):]
}

func (c *sconn) release(frames []outFrame) {
	for i, f := range frames {
		if f.bp != nil {
			c.s.putBuf(f.bp)
		}
		frames[i] = outFrame{}
	}
}

// readLoop reads and handles frames until the connection fails.
func (c *sconn) readLoop() error {
	s := c.s
	ws := c.ws
	if c.trusted {
		c.heard = true
		c.extendDeadline(time.Now(), true)
	} else {
		c.deadline = time.Now().Add(s.cfg.FirstMessageTimeout)
		_ = ws.SetReadDeadline(c.deadline)
	}
	ws.SetPongHandler(func(string) error {
		// Unsolicited pongs do not stand in for the first message.
		if c.heard {
			c.extendDeadline(time.Now(), true)
		}
		return nil
	})
	for {
		_, r, err := ws.NextReader()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				s.m.drop[dropOversized].Inc()
				c.closeReason.CompareAndSwap(nil, &reasonOversized)
			}
			return err
		}
		bp := s.getReadBuf()
		b, err := readFrame(r, *bp, s.cfg.MaxMessageBytes)
		*bp = b
		if err != nil {
			s.putReadBuf(bp)
			if errors.Is(err, errOversized) {
				// The inflated size is over the limit (gorilla only bounds
				// wire bytes).
				s.m.drop[dropOversized].Inc()
				c.closeReason.CompareAndSwap(nil, &reasonOversized)
				_ = ws.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""), time.Now().Add(time.Second))
			}
			return err
		}
		now := s.cfg.Now()
		c.extendDeadline(time.Now(), !c.heard) // the first replaces FirstMessageTimeout
		c.heard = true
		if !c.allow(now.UnixNano()) {
			s.putReadBuf(bp)
			s.m.drop[dropRateLimited].Inc()
			continue
		}
		m := s.msgs.Get().(*wire.RawTrackerMessage)
		ok := s.handle(c, b, m, now.UnixNano())
		m.Reset() // drop the references into the buffer before pooling both
		s.msgs.Put(m)
		s.putReadBuf(bp)
		if ok {
			c.strikes = 0
			continue
		}
		c.strikes++
		if c.strikes >= maxStrikes {
			c.closeReason.CompareAndSwap(nil, &reasonAbuse)
			s.warn.Warn().Int("strikes", c.strikes).Msg("closing tracker connection after invalid messages")
			_ = ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too many invalid messages"),
				time.Now().Add(time.Second))
			return errors.New("too many invalid messages")
		}
	}
}

// extendDeadline pushes the read deadline to now + IdleTimeout. Unless forced
// it does so only when a quarter of the timeout has passed, to keep timer
// updates off the per-message path.
func (c *sconn) extendDeadline(now time.Time, force bool) {
	idle := c.s.cfg.IdleTimeout
	if c.probing.Load() {
		// Alive after all: undo probe's short deadline.
		c.probing.Store(false)
		force = true
	}
	if !force && c.deadline.Sub(now) > idle-idle/4 {
		return
	}
	c.deadline = now.Add(idle)
	_ = c.ws.SetReadDeadline(c.deadline)
}

// probe asks whether the connection is still there, for a newcomer that
// claims one of its peer ids (see Server.claim): it pings and shortens the
// read deadline to probeTimeout. The pong, or any message, restores
// IdleTimeout (extendDeadline); silence closes the connection and frees its
// peer ids. Safe from any goroutine.
func (c *sconn) probe() {
	if c.ws == nil || !c.probing.CompareAndSwap(false, true) { // no socket: FuzzServerHandle
		return
	}
	now := time.Now()
	_ = c.ws.SetReadDeadline(now.Add(c.s.cfg.probeTimeout))
	_ = c.ws.WriteControl(websocket.PingMessage, nil, now.Add(time.Second))
}

// allow takes a token from the connection's bucket (MaxMessageRate per
// membership).
func (c *sconn) allow(now int64) bool {
	rate := c.s.cfg.MaxMessageRate
	if rate < 0 || c.trusted {
		return true
	}
	rate *= float64(max(1, c.members.Load()))
	burst := 10 * rate
	if c.refilled == 0 {
		c.tokens = burst
	} else if d := now - c.refilled; d > 0 {
		c.tokens = min(burst, c.tokens+float64(d)*rate/1e9)
	}
	c.refilled = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// readFrame reads one message into buf (reusing its capacity), failing with
// errOversized past limit bytes.
func readFrame(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errOversized
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
