// Package seeder is superpeer's composition root: it follows the configured
// streams (pkg/playlist), keeps their segments in a bounded memory cache,
// joins each variant's swarms on the WebTorrent trackers (pkg/tracker) under
// every P2P Media Loader generation's identity (pkg/wire), and serves the
// segments to browsers over WebRTC data channels (pion).
//
// Goroutines: Seeder.Run owns an errgroup of the admin HTTP server, one
// client per tracker URL and one stream goroutine per stream (plus that
// stream's playlist follower and fetch workers). Each browser connection is
// one peer goroutine with a reader beside it; peers are tracked by a
// WaitGroup so Run returns only when every one has ended.
package seeder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/superpeer/superpeer/pkg/gcpace"
	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/trackerserver"
)

// Options are the process-level dependencies of a Seeder.
type Options struct {
	// Logger receives all logs; components add their own fields.
	Logger zerolog.Logger
	// Registry receives the metrics and is served on /metrics. Required.
	Registry *prometheus.Registry
	// HTTPClient supplies the origin transport (tests pass their origin's
	// client); nil builds one from the config. Its Transport must be an
	// *http.Transport or nil. Each stream gets its own clone, confined by
	// the stream's fetch policy, so HTTPClient itself is never used as is.
	HTTPClient *http.Client
	// AdminListener, when set, serves the admin endpoints instead of
	// listening on http.listen (tests pass a 127.0.0.1:0 listener).
	AdminListener net.Listener
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Version is shown on the status page.
	Version string
	// TrackerServerURL, when set, runs the embedded tracker (configured by
	// tracker_server) without a listener of its own: the caller serves
	// TrackerServer() at this ws:// URL, and superpeer joins it there. The
	// demo mounts it beside its page this way.
	TrackerServerURL string
	// GCHeadroom, when above 0, lets the seeder set the process's GC
	// percent so that garbage may grow by this fraction of the heap outside
	// the segment cache (package gcpace; main programs take it from GOGC
	// with gcpace.FromGOGC). The GC percent is process-wide: at most one
	// seeder per process should pace it.
	GCHeadroom float64
}

// Seeder seeds the configured streams. Create it with New, start it with Run.
type Seeder struct {
	cfg             Config
	log             zerolog.Logger
	reg             *prometheus.Registry
	metrics         *metrics
	playlistMetrics *playlist.Metrics
	originTransport *http.Transport // template of every stream's transport
	// streamsMu guards streams, running and runCtx: Reload changes them
	// while Run, status pages and probes read them.
	streamsMu sync.Mutex
	streams   []*stream                  // the configured streams, in order
	running   map[*stream]*runningStream // started by Run or Reload
	runCtx    context.Context            // Run's context, nil before Run
	streamsWG sync.WaitGroup
	reloadMu  sync.Mutex // one Reload at a time
	now       func() time.Time

	rtc      *rtcEnv
	apiClose io.Closer

	trackers      *trackerSet
	trackerServer *trackerserver.Server // embedded tracker, nil unless tracker_server.listen or Options.TrackerServerURL
	trackerURL    string                // Options.TrackerServerURL
	trackerToken  string                // lets our own client past the embedded tracker's per-browser limits
	trackerCfg    tracker.Config        // template of the clients' configuration
	budget        *budget
	gcHeadroom    float64
	limits        *limits
	upload        *rate.Limiter // nil when unlimited

	peerID  string // announced in every swarm
	assign  assignment
	peersWG sync.WaitGroup
	adminLn net.Listener
	version string
	started time.Time
}

// New validates cfg and wires a Seeder; nothing starts until Run.
func New(cfg Config, opts Options) (*Seeder, error) {
	if opts.Registry == nil {
		return nil, errors.New("seeder: Options.Registry is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	s := &Seeder{
		cfg:             cfg,
		log:             opts.Logger,
		reg:             opts.Registry,
		metrics:         newMetrics(opts.Registry),
		playlistMetrics: playlist.NewMetrics(opts.Registry),
		now:             opts.Now,
		trackers:        newTrackerSet(),
		running:         map[*stream]*runningStream{},
		adminLn:         opts.AdminListener,
		version:         opts.Version,
		gcHeadroom:      opts.GCHeadroom,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now()
	if opts.HTTPClient == nil {
		s.originTransport = newOriginTransport(cfg.Origin)
	} else {
		switch t := opts.HTTPClient.Transport.(type) {
		case nil:
			s.originTransport = http.DefaultTransport.(*http.Transport)
		case *http.Transport:
			s.originTransport = t
		default:
			return nil, fmt.Errorf("seeder: Options.HTTPClient.Transport must be an *http.Transport, got %T", t)
		}
	}
	s.peerID = newPeerID(cfg.TrackerClient.PeerIDPrefix)
	s.metrics.reloadOK.Set(1)
	s.metrics.reloadTime.SetToCurrentTime()
	s.budget = newBudget(int64(cfg.Cache.MaxBytes), s.metrics)
	s.limits = newLimits(cfg.Peers, s.metrics)
	s.metrics.uploadLimit.Set(float64(cfg.Peers.UploadRate))
	if cfg.Peers.UploadRate > 0 {
		// A burst of a tenth of a second, and at least one message.
		burst := max(int(cfg.Peers.UploadRate/10), cfg.WebRTC.MaxMessageSize)
		s.upload = rate.NewLimiter(rate.Limit(cfg.Peers.UploadRate), burst)
	}

	nom := newNominations()
	api, pcc, closer, err := newWebRTC(cfg.WebRTC, s.log, s.metrics.iceTCPRejected, s.metrics.udp, nom)
	if err != nil {
		return nil, err
	}
	s.apiClose = closer
	s.rtc = &rtcEnv{
		api:            api,
		config:         pcc,
		nominations:    nom,
		connectTimeout: cfg.WebRTC.ConnectTimeout,
		bufferLow:      uint64(cfg.WebRTC.BufferLow),
		bufferHigh:     uint64(cfg.WebRTC.BufferHigh),
		maxMessage:     cfg.WebRTC.MaxMessageSize,
		bigReads:       &sync.Pool{New: func() any { b := make([]byte, maxIncomingMessage); return &b }},
	}

	s.trackerCfg = tracker.Config{
		Origin:            cfg.TrackerClient.Origin,
		Logger:            s.log,
		Metrics:           tracker.NewMetrics(opts.Registry),
		MaxMessageBytes:   int64(cfg.TrackerClient.MaxMessageBytes),
		OffersPerAnnounce: offersPerAnnounce(cfg.TrackerClient.OffersPerAnnounce),
		PingInterval:      cfg.TrackerClient.PingInterval,
		MinInterval:       cfg.TrackerClient.MinInterval,
	}
	seen := map[string]bool{}
	for _, u := range cfg.Trackers {
		if seen[u] {
			continue
		}
		seen[u] = true
		if err := s.addTracker(u); err != nil {
			_ = closer.Close()
			return nil, err
		}
	}
	if cfg.TrackerServer.Listen != "" || opts.TrackerServerURL != "" {
		s.trackerToken, s.trackerURL = newToken(), opts.TrackerServerURL
		if s.trackerServer, err = newTrackerServer(cfg.TrackerServer, s.trackerToken, opts.Registry, s.log); err != nil {
			_ = closer.Close()
			return nil, err
		}
		if s.trackerURL != "" {
			if err := s.addOwnTracker(s.trackerURL); err != nil {
				_ = closer.Close()
				return nil, err
			}
		}
	}
	if s.assign, err = newAssignment(cfg.Replicas, replicaName); err != nil {
		_ = closer.Close()
		return nil, err
	}
	for _, sc := range s.mine(cfg.Streams) {
		env, err := s.streamEnv(sc)
		if err != nil {
			_ = closer.Close()
			return nil, err
		}
		s.streams = append(s.streams, newStream(env, sc))
	}
	return s, nil
}

// replicaName is the default replicas.self: $POD_NAME (Kubernetes' downward
// API; a pod on the host network has the node's host name), else the host
// name, which in a StatefulSet is the pod name.
func replicaName() (string, error) {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n, nil
	}
	return os.Hostname()
}

// mine returns the streams this replica seeds, and sets the assignment
// metric of every configured stream.
func (s *Seeder) mine(streams []StreamConfig) []StreamConfig {
	var out []StreamConfig
	for _, sc := range streams {
		if s.assign.mine(sc.ID) {
			out = append(out, sc)
			s.metrics.assigned.WithLabelValues(sc.ID).Set(1)
		} else {
			s.metrics.assigned.WithLabelValues(sc.ID).Set(0)
		}
	}
	return out
}

// streamEnv builds the environment of one stream: its follower and fetcher,
// sharing an origin client confined by the stream's fetch policy, and what
// its swarms and peers share with every other stream.
func (s *Seeder) streamEnv(sc StreamConfig) (*streamEnv, error) {
	client, err := s.originClient(sc)
	if err != nil {
		return nil, err
	}
	log := s.log.With().Str("component", "stream").Str("stream", sc.ID).Logger()
	m := s.metrics.forStream(sc.ID)
	stats := &streamStats{}
	pe := &peerEnv{rtc: s.rtc, throttle: s.reserveUpload, metrics: m, stats: stats, now: s.now}
	return &streamEnv{
		client: client,
		follower: playlist.NewFollower(playlist.FollowerConfig{
			Stream:           sc.ID,
			URL:              sc.URL,
			Client:           client,
			Logger:           s.log,
			Metrics:          s.playlistMetrics,
			MaxPlaylistBytes: int64(s.cfg.Origin.MaxPlaylistBytes),
			RequestTimeout:   s.cfg.Origin.Timeout,
		}),
		fetcher: playlist.NewFetcher(playlist.FetcherConfig{
			Stream:          sc.ID,
			Client:          client,
			Metrics:         s.playlistMetrics,
			Timeout:         s.cfg.Origin.Timeout,
			Retries:         fetchRetries(s.cfg.Origin.Retries),
			MaxSegmentBytes: int64(s.cfg.Origin.MaxSegmentBytes),
			Logger:          s.log,
			Memory:          s.budget,
		}),
		budget: s.budget,
		gens:   generationsNamed(sc.Generations),
		swarm: &swarmEnv{
			signaling: s.trackers,
			limits:    s.limits,
			peer:      pe,
			metrics:   m,
			spawn:     s.spawn,
			peerID:    s.peerID,
			log:       log,
			minGap:    s.cfg.TrackerClient.MinInterval,
			offering:  s.cfg.TrackerClient.OffersPerAnnounce > 0 && s.cfg.Peers.MaxPendingOffers > 0,
		},
		metrics:     m,
		stats:       stats,
		concurrency: s.cfg.Origin.Concurrency,
		cacheLimit:  int64(s.cfg.Cache.MaxBytes),
		now:         s.now,
		log:         log,
	}, nil
}

// originClient returns the client of one stream: requests and redirect hops
// limited to the stream's origin and its allowed_origins, connections to
// public addresses unless the configuration names the address or sets
// allow_private. A transport per stream, because the dial check depends on
// the stream's policy and pooled connections must not cross it.
func (s *Seeder) originClient(sc StreamConfig) (*http.Client, error) {
	pol, err := playlist.NewPolicy(playlist.PolicyConfig{
		URL:            sc.URL,
		AllowedOrigins: sc.AllowedOrigins,
		AllowPrivate:   sc.AllowPrivate,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", sc.ID, err)
	}
	return pol.Client(userAgent{rt: pol.Transport(s.originTransport), ua: s.cfg.Origin.UserAgent}), nil
}

// offersPerAnnounce maps tracker_client.offers_per_announce to the client's
// setting, where 0 means its default and a negative number none.
func offersPerAnnounce(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// fetchRetries maps origin.retries to the Fetcher's setting, where 0 means
// its default and a negative number none.
func fetchRetries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// addTracker creates the client of one tracker URL.
func (s *Seeder) addTracker(u string) error { return s.addTrackerWith(u, nil) }

func (s *Seeder) addTrackerWith(u string, header http.Header) error {
	cfg := s.trackerCfg
	cfg.URL, cfg.Header = u, header
	c, err := tracker.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("tracker %s: %w", u, err)
	}
	s.trackers.add(c)
	return nil
}

// newOriginTransport is the template of the streams' origin transports:
// bounded connection pools and response header timeout. Redirects are
// followed (browsers follow them too), within each stream's fetch policy.
func newOriginTransport(cfg OriginConfig) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(cfg.Concurrency*2, 8)
	tr.ResponseHeaderTimeout = cfg.Timeout
	return tr
}

type userAgent struct {
	rt http.RoundTripper
	ua string
}

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	if u.ua != "" && r.Header.Get("User-Agent") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", u.ua)
	}
	return u.rt.RoundTrip(r)
}

// CloseIdleConnections closes the wrapped transport's idle connections.
func (u userAgent) CloseIdleConnections() {
	if c, ok := u.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Run seeds until ctx is cancelled, then shuts down: trackers are told we
// leave, peers are closed, and the admin server drains within
// http.shutdown_timeout. It returns nil after a clean shutdown.
func (s *Seeder) Run(ctx context.Context) error {
	defer s.apiClose.Close()
	// The embedded tracker comes first: superpeer joins it like any other,
	// and the tracker list is final before anything reads it.
	var trackerHTTP *http.Server
	var trackerLn net.Listener
	if s.trackerServer != nil && s.trackerURL == "" {
		var u string
		var err error
		if trackerHTTP, trackerLn, u, err = s.listenTracker(); err != nil {
			return err
		}
		if err := s.addOwnTracker(u); err != nil {
			trackerLn.Close()
			return err
		}
	}
	admin, err := s.startAdmin()
	if err != nil {
		if trackerLn != nil {
			trackerLn.Close()
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if s.trackerServer != nil {
		g.Go(func() error { return s.trackerServer.Run(gctx) })
	}
	if trackerHTTP != nil {
		g.Go(func() error {
			if err := trackerHTTP.Serve(trackerLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("tracker server: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), s.cfg.HTTP.ShutdownTimeout)
		defer cancel()
		if admin != nil {
			_ = admin.Shutdown(sctx)
		}
		if trackerHTTP != nil {
			// Close, not Shutdown: hijacked WebSockets are the tracker's to close.
			_ = trackerHTTP.Close()
		}
		return nil
	})
	if admin != nil {
		g.Go(func() error {
			if err := admin.Serve(s.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("admin http: %w", err)
			}
			return nil
		})
	}
	for _, c := range s.trackers.clients() {
		g.Go(func() error { return c.Run(gctx) })
	}
	if s.gcHeadroom > 0 {
		g.Go(func() error {
			cfg := gcpace.DefaultConfig(s.budget.usedBytes)
			cfg.Headroom = s.gcHeadroom
			cfg.Set = func(p int) { s.metrics.gcPercent.Set(float64(p)) }
			gcpace.Run(gctx, cfg)
			return nil
		})
	}
	s.streamsMu.Lock()
	s.runCtx = gctx
	for _, st := range s.streams {
		s.startStreamLocked(st)
	}
	n := len(s.streams)
	s.streamsMu.Unlock()
	s.log.Info().Int("streams", n).Int("trackers", len(s.trackers.clients())).Msg("superpeer started")
	err = g.Wait()
	s.streamsWG.Wait()
	for _, st := range s.streamList() {
		st.closePending()
	}
	s.peersWG.Wait()
	// Kept-alive origin connections would hold the origin's server (the
	// demo's own, for one) in its graceful shutdown.
	for _, st := range s.streamList() {
		st.env.client.CloseIdleConnections()
	}
	s.log.Info().Msg("superpeer stopped")
	return err
}

// spawn runs a peer goroutine that Run waits for. A panic there, a bug
// reached by one browser's input, ends that peer only: it is logged with
// its stack and counted, and every other peer and stream carries on.
func (s *Seeder) spawn(f func()) {
	s.peersWG.Add(1)
	go func() {
		defer s.peersWG.Done()
		defer func() {
			if r := recover(); r != nil {
				s.metrics.panics.Inc()
				s.log.Error().Str("panic", fmt.Sprint(r)).Str("stack", string(debug.Stack())).Msg("peer goroutine panicked")
			}
		}()
		f()
	}()
}

// reserveUpload takes n bytes from the upload rate limit and returns how
// long the caller must wait before sending them.
func (s *Seeder) reserveUpload(n int) time.Duration {
	if s.upload == nil {
		return 0
	}
	now := s.now()
	r := s.upload.ReserveN(now, n)
	if !r.OK() {
		return 0 // larger than the burst: cannot happen, burst >= max message size
	}
	d := r.DelayFrom(now)
	if d > 0 {
		s.metrics.uploadWait.Add(d.Seconds())
	}
	return d
}

// Ready reports whether superpeer is doing its job: every stream has its
// playlists and has joined its swarms, and at least one tracker, which
// every swarm joins, is connected now. Without a tracker no browser can
// find superpeer, however healthy the rest is.
func (s *Seeder) Ready() bool {
	return len(s.notReady()) == 0
}

// notReady lists why Ready is false, one reason a line.
func (s *Seeder) notReady() []string {
	var why []string
	for _, st := range s.streamList() {
		if !st.ready.Load() {
			why = append(why, "stream "+st.cfg.ID+": not ready")
		}
	}
	if len(s.streamList()) > 0 && len(s.trackers.clients()) > 0 {
		connected := false
		for _, c := range s.trackers.clients() {
			connected = connected || c.Connected()
		}
		if !connected {
			why = append(why, "no tracker connected")
		}
	}
	return why
}
