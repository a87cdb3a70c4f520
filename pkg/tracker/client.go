package tracker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/wire"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// URL is the tracker's ws:// or wss:// address.
	URL string
	// Origin, if set, is sent as the Origin header: trackers with origin
	// allow-lists or denyEmptyOrigin (wt-tracker) drop clients without one.
	Origin string
	// Header holds extra headers for the WebSocket handshake.
	Header http.Header
	// Logger receives the client's logs; it gets component=tracker and
	// tracker=<URL> fields.
	Logger zerolog.Logger
	// Metrics is shared by all clients (NewMetrics); nil keeps them private.
	Metrics *Metrics
	// DisableCompression turns off permessage-deflate negotiation, which
	// browsers always offer.
	DisableCompression bool
	// MaxMessageBytes bounds an incoming frame, on the wire and inflated
	// (default 1 MiB). A larger frame ends the connection.
	MaxMessageBytes int64
	// MaxOutgoingBytes bounds an outgoing frame (default 64 KiB, wt-tracker's
	// maxPayloadLength): offers are dropped from an announce until it fits.
	MaxOutgoingBytes int
	// OffersPerAnnounce is the number of offers asked of the Handler per
	// announce; 0 takes the default, 10, and a negative value makes none, so
	// the swarm only answers offers (announces then carry numwant 0 and
	// offers [], as a full P2PML 5.x browser sends). Every announce's
	// numwant is the number of offers it actually carries.
	//
	// Why 10 rather than the 5 browsers send: a tracker relays each offer to
	// a different peer, at most min(offers, numwant, 20, swarm size - 1) on
	// wt-tracker (10 on Novage's production tracker), so one announce per
	// interval reaches up to 10 browsers instead of 5, and a seed has no
	// browser's CPU budget for gathering (superpeer's candidates are known
	// at once). Offers that reach no one cost a pending slot until they
	// time out, which the seeder bounds on its own.
	OffersPerAnnounce int
	// OfferTimeout bounds Handler.Offers (default 10 s).
	OfferTimeout time.Duration
	// PingInterval is the WebSocket ping period (default 30 s); the read
	// deadline is twice this.
	PingInterval time.Duration
	// DefaultInterval is the announce interval until the tracker sends one
	// (default 30 s, the bittorrent-tracker client's).
	DefaultInterval time.Duration
	// MinInterval floors tracker-supplied intervals (default 5 s).
	MinInterval time.Duration
	// AnswerTimeout drops answers to offers received longer ago than this
	// (default 20 s): a late answer makes wt-tracker close the socket.
	AnswerTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay (defaults 1 s and
	// 2 min); the delay is uniformly random below min(BackoffMax,
	// BackoffMin·2^attempt).
	BackoffMin, BackoffMax time.Duration
	// SendQueue is the length of the outgoing queue (default 256).
	SendQueue int
	// Now returns the current time (default time.Now); it stamps offers for
	// AnswerTimeout.
	Now func() time.Time

	// intervalUnit is the unit of tracker intervals: a second, shortened by
	// tests so that re-announces can be observed quickly.
	intervalUnit time.Duration
}

const (
	handshakeTimeout = 10 * time.Second
	writeTimeout     = 10 * time.Second
	stopTimeout      = 2 * time.Second
	// stableAfter is how long a connection must stay up for the reconnect
	// backoff to start again from BackoffMin.
	stableAfter = time.Minute
	// maxInterval caps tracker intervals (garbage protection, no overflow).
	maxInterval = time.Hour
	// defaultOffersPerAnnounce is Config.OffersPerAnnounce's default; the
	// field's comment says why 10.
	defaultOffersPerAnnounce = 10
)

func (cfg *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	if cfg.MaxOutgoingBytes <= 0 {
		cfg.MaxOutgoingBytes = 64 << 10
	}
	if cfg.OffersPerAnnounce == 0 {
		cfg.OffersPerAnnounce = defaultOffersPerAnnounce
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 256
	}
	def(&cfg.OfferTimeout, 10*time.Second)
	def(&cfg.PingInterval, 30*time.Second)
	def(&cfg.DefaultInterval, 30*time.Second)
	def(&cfg.MinInterval, 5*time.Second)
	def(&cfg.AnswerTimeout, 20*time.Second)
	def(&cfg.BackoffMin, time.Second)
	def(&cfg.BackoffMax, 2*time.Minute)
	def(&cfg.intervalUnit, time.Second)
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = cfg.BackoffMin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
}

// Client keeps one WebSocket to one tracker for every joined swarm.
type Client struct {
	cfg    Config
	url    string // redacted, for logs and labels
	log    zerolog.Logger
	warn   zerolog.Logger // sampled, for faults caused by the tracker
	m      clientMetrics
	dialer websocket.Dialer
	header http.Header

	running atomic.Bool

	mu     sync.Mutex
	swarms map[string]*swarm // by info hash
	conn   *conn             // current connection, nil while disconnected
	gen    uint64            // generation of the latest connection
}

// swarm is one joined info hash.
type swarm struct {
	infoHash, peerID string
	h                Handler

	// Guarded by Client.mu.
	interval    time.Duration // from the tracker's last response; 0 before any
	minInterval time.Duration // the tracker's "min interval", if it sent one
	trackerID   string        // "tracker id" to echo as "trackerid"
}

// NewClient checks cfg and returns a Client; nothing runs until Run.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: url %q: %w", ErrInvalidConfig, cfg.URL, err)
	}
	if (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("%w: url %q: want ws:// or wss:// with a host", ErrInvalidConfig, cfg.URL)
	}
	cfg.setDefaults()
	c := &Client{
		cfg:    cfg,
		url:    u.Redacted(),
		swarms: map[string]*swarm{},
		dialer: websocket.Dialer{
			Proxy:             http.ProxyFromEnvironment,
			HandshakeTimeout:  handshakeTimeout,
			EnableCompression: !cfg.DisableCompression,
		},
		header: cfg.Header.Clone(),
	}
	if c.header == nil {
		c.header = http.Header{}
	}
	if cfg.Origin != "" {
		c.header.Set("Origin", cfg.Origin)
	}
	c.log = cfg.Logger.With().Str("component", "tracker").Str("tracker", c.url).Logger()
	c.warn = c.log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute})
	c.m = cfg.Metrics.forTracker(c.url)
	c.m.connected.Set(0)
	c.m.swarms.Set(0)
	return c, nil
}

// URL returns the tracker URL (with any password redacted).
func (c *Client) URL() string { return c.url }

// Connected reports whether the WebSocket to the tracker is up now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Join adds a swarm and announces it on the current and every later
// connection until leave is called; leave sends a "stopped" announce. Both ids
// are binary strings of 20 bytes.
//
// Use the same peer id in every swarm of a Client, as P2PML 5.x and 0.6
// browsers do over their one socket per tracker: wt-tracker (Novage's
// tracker, fast-tracker.ts processAnnounce) closes a socket on which a second
// peer id announces ("different peer_id on the same connection"), and would
// do so again after every reconnect. bittorrent-tracker and trackerserver
// accept several (P2PML 2.x sends one per swarm), so a second peer id is
// allowed here, with a warning.
func (c *Client) Join(infoHash, peerID string, h Handler) (leave func(), err error) {
	if len(infoHash) != 20 || len(peerID) != 20 {
		return nil, fmt.Errorf("join %x: %w", infoHash, ErrInvalidID)
	}
	if h == nil {
		return nil, fmt.Errorf("join %x: nil handler", infoHash)
	}
	s := &swarm{infoHash: infoHash, peerID: peerID, h: h}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.swarms[infoHash]; ok {
		return nil, fmt.Errorf("join %x: %w", infoHash, ErrAlreadyJoined)
	}
	for _, o := range c.swarms {
		if o.peerID != peerID {
			c.warn.Warn().Str("swarm", fmt.Sprintf("%x", infoHash)).
				Msg("second peer id on one tracker socket: wt-tracker closes such sockets")
			break
		}
	}
	c.swarms[infoHash] = s
	c.m.swarms.Set(float64(len(c.swarms)))
	if c.conn != nil {
		c.startAnnouncer(c.conn, s)
	}
	var once sync.Once
	return func() { once.Do(func() { c.leave(s) }) }, nil
}

func (c *Client) leave(s *swarm) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.swarms, s.infoHash)
	c.m.swarms.Set(float64(len(c.swarms)))
	if c.conn == nil {
		return
	}
	if a := c.conn.announcers[s]; a != nil {
		delete(c.conn.announcers, s)
		a.leaving.Store(true)
		a.cancel()
	}
}

// AnnounceSoon brings infoHash's next announce forward: it goes out once
// MinInterval (or the tracker's "min interval", if longer) has passed since
// the last, instead of at the end of the interval. A swarm whose offers are
// being taken uses it to reach the rest of a large swarm sooner. It never
// blocks, and does nothing for a swarm not joined or while disconnected;
// requests before the next announce count as one.
func (c *Client) AnnounceSoon(infoHash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.swarms[infoHash]
	if s == nil || c.conn == nil {
		return
	}
	if a := c.conn.announcers[s]; a != nil {
		select {
		case a.soon <- struct{}{}:
		default:
		}
	}
}

// Answer sends our answer to a relayed offer. It returns ErrLateAnswer (and
// counts it) if the offer arrived on an earlier connection or longer than
// AnswerTimeout ago, ErrQueueFull if the send queue is full.
func (c *Client) Answer(o Offer, sdp string) error {
	c.mu.Lock()
	s, cn := c.swarms[o.InfoHash], c.conn
	var trackerID string
	if s != nil {
		trackerID = s.trackerID
	}
	c.mu.Unlock()
	if s == nil {
		return fmt.Errorf("answer offer in %x: %w", o.InfoHash, ErrNotJoined)
	}
	if cn == nil || cn.gen != o.gen || c.cfg.Now().Sub(o.received) > c.cfg.AnswerTimeout {
		c.m.drop(dropLateAnswer)
		return fmt.Errorf("answer offer in %x: %w", o.InfoHash, ErrLateAnswer)
	}
	m := wire.TrackerMessage{
		Action:    "announce",
		InfoHash:  s.infoHash,
		PeerID:    s.peerID,
		ToPeerID:  o.PeerID,
		Answer:    &wire.TrackerSDP{Type: "answer", SDP: sdp},
		OfferID:   o.OfferID,
		TrackerID: trackerID,
	}
	b := m.AppendJSON(nil)
	if len(b) > c.cfg.MaxOutgoingBytes {
		c.m.drop(dropOversized)
		return fmt.Errorf("answer offer in %x: %d bytes: %w", o.InfoHash, len(b), ErrTooLarge)
	}
	if !c.enqueue(cn, outgoing{b: b, kind: kindAnswer}) {
		return fmt.Errorf("answer offer in %x: %w", o.InfoHash, ErrQueueFull)
	}
	return nil
}

// enqueue queues a frame for cn's writer, dropping it if the queue is full.
func (c *Client) enqueue(cn *conn, out outgoing) bool {
	select {
	case cn.sendq <- out:
		return true
	default:
		c.m.drop(dropQueueFull)
		c.warn.Warn().Str("kind", out.kind).Msg("tracker send queue full")
		return false
	}
}

// Run connects to the tracker and keeps the connection up, reconnecting with
// backoff, until ctx ends; then it sends "stopped" for every joined swarm and
// returns nil.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	attempt := 0
	for {
		start := time.Now()
		connected, err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected && time.Since(start) >= stableAfter {
			attempt = 0
		}
		delay := backoff(attempt, c.cfg.BackoffMin, c.cfg.BackoffMax)
		attempt++
		c.warn.Warn().Err(err).Dur("retry_in", delay).Msg("tracker connection lost")
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff returns a delay drawn uniformly from (0, min(hi, lo·2^attempt)]
// ("full jitter").
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	ceil := lo
	for i := 0; i < attempt && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	return time.Duration(rand.Int64N(int64(ceil))) + 1
}
