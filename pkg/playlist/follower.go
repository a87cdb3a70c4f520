package playlist

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Follower defaults.
const (
	// DefaultMaxPlaylistBytes is the default FollowerConfig.MaxPlaylistBytes.
	DefaultMaxPlaylistBytes = 4 << 20
	// DefaultRequestTimeout is the default FollowerConfig.RequestTimeout.
	DefaultRequestTimeout = 10 * time.Second

	// minReload is the shortest live reload interval: hls.js never lets the
	// target duration drop below 1 s.
	minReload = time.Second
)

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	// Stream is the configured stream name, used in logs and metric labels.
	Stream string
	// URL is the manifest URL (master or media playlist), absolute http(s).
	URL string
	// Client makes the requests and follows redirects; nil means a new
	// http.Client with default settings. Build it with a Policy
	// (Policy.Client over Policy.Transport) to confine the stream to its
	// origins; requests the policy refuses are counted in
	// superpeer_origin_refused_total and logged (sampled) with their host.
	Client *http.Client
	// Logger receives the follower's logs.
	Logger zerolog.Logger
	// Metrics records requests and errors; nil means unregistered metrics.
	Metrics *Metrics
	// MaxPlaylistBytes bounds manifest and playlist bodies; default 4 MiB.
	MaxPlaylistBytes int64
	// RequestTimeout bounds one playlist request; default 10 s.
	RequestTimeout time.Duration
	// Now returns the current time; default time.Now. Tests inject a clock.
	Now func() time.Time
	// After is time.After; tests inject a clock together with Now.
	After func(time.Duration) <-chan time.Time
}

// Event is what a Follower reports. The first event of a Run carries the
// manifest alone (Variant -1, Playlist nil); each later one carries a new
// snapshot of one variant's media playlist.
type Event struct {
	// Manifest is the manifest the Follower follows; set on every event.
	Manifest *Manifest
	// Variant indexes Manifest.Variants, or is -1 for the manifest event.
	Variant int
	// Playlist is the variant's media playlist, nil for the manifest event.
	Playlist *MediaPlaylist
}

// Follower follows one HLS stream the way hls.js does (it loads the manifest
// once and reloads every variant's media playlist while it is live), or one
// DASH stream the way Shaka does (see followDASH).
type Follower struct {
	cfg   FollowerConfig
	log   zerolog.Logger
	warn  zerolog.Logger // sampled, for origin failures
	retry backoff
}

// NewFollower returns a Follower for cfg, filling in defaults. It does no I/O.
func NewFollower(cfg FollowerConfig) *Follower {
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.MaxPlaylistBytes <= 0 {
		cfg.MaxPlaylistBytes = DefaultMaxPlaylistBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	log := cfg.Logger.With().Str("component", "playlist").Str("stream", cfg.Stream).Logger()
	return &Follower{
		cfg:   cfg,
		log:   log,
		warn:  log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute}),
		retry: backoff{min: 500 * time.Millisecond, max: 30 * time.Second},
	}
}

// Run loads the manifest, retrying with capped exponential backoff and jitter
// until it succeeds or ctx ends, and sends one manifest Event. It then follows
// every variant's media playlist concurrently and sends an Event whenever a
// playlist's content changes:
//
//   - A live playlist is reloaded one target duration after the previous
//     request started, or half a target duration when it had not changed
//     (RFC 8216 section 6.3.4, hls.js computeReloadInterval).
//   - Once EXT-X-ENDLIST appears the final snapshot is sent and that variant
//     is no longer polled. Its segment IDs switch from media sequence numbers
//     to positions, as a browser that loads it afresh computes them.
//   - A failed load is logged (sampled), counted and retried with backoff; it
//     never ends Run or affects other variants.
//
// The manifest itself is not reloaded, as in hls.js. Run blocks until ctx
// ends and then returns nil; it returns an error only for an unusable URL.
func (f *Follower) Run(ctx context.Context, events chan<- Event) error {
	u, err := url.Parse(f.cfg.URL)
	if err != nil {
		return fmt.Errorf("follow stream %s: %w", f.cfg.Stream, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("follow stream %s: want an absolute http(s) url, got %q", f.cfg.Stream, f.cfg.URL)
	}
	m, d, ok := f.loadManifest(ctx, u.String())
	if !ok {
		return nil
	}
	f.log.Info().Str("url", m.URL).Str("format", string(m.Format)).Int("variants", len(m.Variants)).Msg("manifest loaded")
	if !send(ctx, events, Event{Manifest: m, Variant: -1}) {
		return nil
	}
	if d != nil {
		f.followDASH(ctx, d, u.String(), events)
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	for i := range m.Variants {
		wg.Go(func() { f.followVariant(ctx, m, i, events) })
	}
	wg.Wait()
	<-ctx.Done()
	return nil
}

// loadManifest fetches and parses the manifest until it succeeds; ok is false
// when ctx ended first. The format is detected from the body: an XML
// document is a DASH MPD (d is then set too), anything else HLS.
func (f *Follower) loadManifest(ctx context.Context, rawURL string) (m *Manifest, d *DASH, ok bool) {
	for attempt := 1; ; attempt++ {
		body, final, reason, err := f.get(ctx, rawURL, kindMaster)
		if err == nil {
			if isMPD(body) {
				if d, err = ParseMPD(body, final); err == nil {
					return d.Manifest, d, true
				}
			} else if m, err = ParseMaster(body, final); err == nil {
				return m, nil, true
			}
			reason, err = reasonParse, fmt.Errorf("parse manifest %s: %w", final, err)
		}
		if ctx.Err() != nil {
			return nil, nil, false
		}
		f.cfg.Metrics.errors.WithLabelValues(f.cfg.Stream, reason).Inc()
		if reason != reasonRefused { // already logged, without the URL
			f.warn.Warn().Err(err).Str("reason", reason).Int("attempt", attempt).Msg("manifest load failed")
		}
		if !sleepCtx(ctx, f.cfg.After, f.retry.delay(attempt)) {
			return nil, nil, false
		}
	}
}

// followVariant polls one variant's media playlist until it is VOD or ctx
// ends.
func (f *Follower) followVariant(ctx context.Context, m *Manifest, i int, events chan<- Event) {
	v := m.Variants[i]
	log := f.log.With().Int("variant", i).Logger()
	warn := f.warn.With().Int("variant", i).Logger()
	var last []byte
	failures := 0
	var liveCap time.Duration // once the playlist was seen live: its reload interval
	for {
		start := f.cfg.Now()
		body, final, reason, err := f.get(ctx, v.URL, kindPlaylist)
		var pl *MediaPlaylist
		if err == nil {
			if pl, err = ParseMedia(body, final); err != nil {
				reason, err = reasonParse, fmt.Errorf("parse playlist %s: %w", final, err)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			f.cfg.Metrics.errors.WithLabelValues(f.cfg.Stream, reason).Inc()
			if reason != reasonRefused { // already logged, without the URL
				warn.Warn().Err(err).Str("reason", reason).Int("attempt", failures).Msg("playlist load failed")
			}
			d := f.retry.delay(failures)
			if liveCap > 0 {
				// A live origin that is back must be followed again within
				// one segment, not after the general backoff's 30 s.
				d = min(d, liveCap)
			}
			if !sleepCtx(ctx, f.cfg.After, d) {
				return
			}
			continue
		}
		failures = 0
		f.cfg.Metrics.reloads.WithLabelValues(f.cfg.Stream).Inc()
		changed := last == nil || !bytes.Equal(body, last)
		if changed {
			last = body
			log.Debug().Int("segments", len(pl.Segments)).Bool("live", pl.Live).Msg("playlist updated")
			if !send(ctx, events, Event{Manifest: m, Variant: i, Playlist: pl}) {
				return
			}
		}
		if !pl.Live {
			log.Debug().Msg("playlist ended")
			return
		}
		interval := max(pl.TargetDuration, minReload)
		liveCap = interval
		if !changed {
			interval /= 2
		}
		if !sleepCtx(ctx, f.cfg.After, interval-f.cfg.Now().Sub(start)) {
			return
		}
	}
}

// get fetches a manifest or playlist body, bounded by MaxPlaylistBytes. It
// returns the URL after redirects, and on failure the playlist error reason.
func (f *Follower) get(ctx context.Context, rawURL, kind string) ([]byte, *url.URL, string, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, reasonFetch, fmt.Errorf("fetch %s %s: %w", kind, rawURL, err)
	}
	start := time.Now()
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		if re := refusal(err); re != nil {
			// Never reached the network as asked: counted apart, not as a request.
			f.cfg.Metrics.observeRefused(f.warn, f.cfg.Stream, kind, re)
			return nil, nil, reasonRefused, fmt.Errorf("fetch %s: %w", kind, re)
		}
		f.cfg.Metrics.observeRequest(f.cfg.Stream, kind, 0, time.Since(start))
		return nil, nil, reasonFetch, fmt.Errorf("fetch %s %s: %w", kind, rawURL, err)
	}
	defer closeBody(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		f.cfg.Metrics.observeRequest(f.cfg.Stream, kind, resp.StatusCode, time.Since(start))
		return nil, nil, reasonFetch, fmt.Errorf("fetch %s %s: %w", kind, rawURL, &StatusError{Code: resp.StatusCode})
	}
	limit := f.cfg.MaxPlaylistBytes
	if resp.ContentLength > limit {
		f.cfg.Metrics.observeRequest(f.cfg.Stream, kind, resp.StatusCode, time.Since(start))
		return nil, nil, reasonTooLarge, fmt.Errorf("fetch %s %s: %w: content-length %d > %d", kind, rawURL, ErrTooLarge, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	f.cfg.Metrics.observeRequest(f.cfg.Stream, kind, resp.StatusCode, time.Since(start))
	if err != nil {
		return nil, nil, reasonFetch, fmt.Errorf("fetch %s %s: read body: %w", kind, rawURL, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, reasonTooLarge, fmt.Errorf("fetch %s %s: %w: more than %d bytes", kind, rawURL, ErrTooLarge, limit)
	}
	return body, resp.Request.URL, "", nil
}

// closeBody drains a little of an unread body, so the connection can be
// reused, and closes it.
func closeBody(b io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(b, 4<<10))
	_ = b.Close()
}

// send delivers ev unless ctx ends first.
func send(ctx context.Context, events chan<- Event, ev Event) bool {
	select {
	case events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
