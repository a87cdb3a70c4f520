package seeder

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/superpeer/superpeer/pkg/playlist"
)

// Timings of the stream goroutine.
const (
	// publishInterval batches changes into one snapshot and announcement.
	publishInterval = 100 * time.Millisecond
	// failedRetryMin and failedRetryMax space out new attempts at a segment
	// whose download failed (after the fetcher's own retries).
	failedRetryMin = 5 * time.Second
	failedRetryMax = 2 * time.Minute
)

// segState is where a segment is in its life.
type segState int

const (
	segQueued   segState = iota // waiting for a fetch worker
	segFetching                 // being downloaded
	segLoaded                   // bytes held and announced
	segFailed                   // download failed or no cache room; retried at retryAt
)

// segment is one media segment of a variant, owned by the stream goroutine.
type segment struct {
	v         *variant
	seg       playlist.Segment // the latest playlist entry (URL, range, id)
	state     segState
	data      []byte
	appeared  time.Time // first seen in the playlist
	attempts  int
	retryAt   time.Time
	removedAt time.Time // left the playlist (zero while in it)
}

// variant is one media playlist of a stream: a hls.js level or audio track.
type variant struct {
	index int
	label string // "main-0", "secondary-1": type and 2.2 ordinal
	pv    playlist.Variant

	byKey  map[string]*segment // every segment held or wanted, by runtime key
	byID   map[int64]*segment  // the current playlist's numbering
	legacy map[int64]*segment  // ids from before a live playlist ended (see onPlaylist)

	live        bool
	gotPlaylist bool
	target      time.Duration
	dirty       bool

	set    atomic.Pointer[segmentSet] // published for peers
	swarms []*swarm
}

// stream follows one configured stream, keeps its segments and runs its
// swarms. Its goroutine (loop) owns all variant and segment state; fetch
// workers and peers talk to it through channels and atomic snapshots.
type stream struct {
	s        *Seeder
	cfg      StreamConfig
	log      zerolog.Logger
	follower *playlist.Follower
	fetcher  *playlist.Fetcher

	variants []*variant
	queue    []*segment
	jobs     chan *segment
	results  chan fetchResult
	ready    atomic.Bool
	base     string // swarm base id, set once the manifest is known
	warned   bool   // cache-full warning given
	stats    streamStats
	view     atomic.Pointer[streamView] // for status readers, set once
}

// streamView is what other goroutines may read of a stream once its
// manifest is loaded: the variants never change after that (their segment
// sets are atomic and their swarms lock themselves).
type streamView struct {
	base     string
	variants []*variant
}

type fetchResult struct {
	seg  *segment
	data []byte
	err  error
}

func newStream(s *Seeder, cfg StreamConfig) *stream {
	log := s.log.With().Str("component", "stream").Str("stream", cfg.ID).Logger()
	return &stream{
		s:   s,
		cfg: cfg,
		log: log,
		follower: playlist.NewFollower(playlist.FollowerConfig{
			Stream:           cfg.ID,
			URL:              cfg.URL,
			Client:           s.httpClient,
			Logger:           s.log,
			Metrics:          s.playlistMetrics,
			MaxPlaylistBytes: int64(s.cfg.Origin.MaxPlaylistBytes),
			RequestTimeout:   s.cfg.Origin.Timeout,
		}),
		fetcher: playlist.NewFetcher(playlist.FetcherConfig{
			Stream:          cfg.ID,
			Client:          s.httpClient,
			Metrics:         s.playlistMetrics,
			Timeout:         s.cfg.Origin.Timeout,
			Retries:         fetchRetries(s.cfg.Origin.Retries),
			MaxSegmentBytes: int64(s.cfg.Origin.MaxSegmentBytes),
			Logger:          s.log,
		}),
		jobs:    make(chan *segment, s.cfg.Origin.Concurrency),
		results: make(chan fetchResult, s.cfg.Origin.Concurrency),
	}
}

// fetchRetries maps origin.retries to the Fetcher's setting, where 0 means
// its default and a negative number none.
func fetchRetries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// run follows the stream until ctx ends.
func (st *stream) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	events := make(chan playlist.Event, 16)
	g.Go(func() error { return st.follower.Run(ctx, events) })
	for range st.s.cfg.Origin.Concurrency {
		g.Go(func() error { st.worker(ctx); return nil })
	}
	g.Go(func() error { return st.loop(ctx, events) })
	return g.Wait()
}

// worker downloads queued segments. The fetcher retries transient errors.
func (st *stream) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case seg := <-st.jobs:
			data, err := st.fetcher.Fetch(ctx, seg.seg)
			select {
			case st.results <- fetchResult{seg: seg, data: data, err: err}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (st *stream) loop(ctx context.Context, events <-chan playlist.Event) error {
	tick := time.NewTicker(publishInterval)
	defer tick.Stop()
	defer st.releaseAll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			if ev.Manifest != nil {
				st.onManifest(ctx, ev.Manifest)
			}
			if ev.Playlist != nil && ev.Variant >= 0 && ev.Variant < len(st.variants) {
				st.onPlaylist(st.variants[ev.Variant], ev.Playlist)
			}
		case r := <-st.results:
			st.onFetched(r)
		case <-tick.C:
			st.maintain()
		}
		st.dispatch()
	}
}

// onManifest creates a variant, and its swarms, for every media playlist.
// The manifest is loaded once; browsers do not reload it either.
func (st *stream) onManifest(ctx context.Context, m *playlist.Manifest) {
	if st.variants != nil {
		return
	}
	st.base = st.cfg.SwarmID
	if st.base == "" {
		st.base = m.SwarmBase
	}
	if len(m.Variants) == 0 {
		// The stream stays not ready; other streams are unaffected.
		st.log.Error().Str("url", m.URL).Msg("manifest has no media playlist to seed")
		return
	}
	for i, pv := range m.Variants {
		v := &variant{
			index:  i,
			label:  string(pv.Type) + "-" + strconv.Itoa(pv.Ordinal),
			pv:     pv,
			byKey:  map[string]*segment{},
			byID:   map[int64]*segment{},
			legacy: map[int64]*segment{},
		}
		v.set.Store(emptySegmentSet)
		for _, gen := range st.cfg.Generations {
			v.swarms = append(v.swarms, newSwarm(ctx, st, v, gen))
		}
		st.variants = append(st.variants, v)
	}
	st.view.Store(&streamView{base: st.base, variants: st.variants})
	ev := st.log.Info().Str("swarm_base", st.base).Int("swarms", len(st.variants)*len(st.cfg.Generations))
	for _, v := range st.variants {
		for _, sw := range v.swarms {
			st.log.Debug().Str("variant", v.label).Str("generation", string(sw.gen)).
				Str("swarm", sw.swarmID).Str("info_hash", sw.infoHash).Msg("swarm")
		}
	}
	ev.Msg("swarms created")
}

// onPlaylist merges a new snapshot of a media playlist.
func (st *stream) onPlaylist(v *variant, pl *playlist.MediaPlaylist) {
	now := st.s.now()
	st.stats.lastPlaylist.Store(now.UnixNano())
	if v.live && !pl.Live {
		// The stream ended: browsers that load it from now on number its
		// segments by position instead of media sequence. Browsers already
		// playing keep the old numbers for segments they knew, so requests
		// in the old numbering are still served.
		v.legacy = v.byID
		st.log.Info().Str("variant", v.label).Msg("live playlist ended")
	}
	v.live, v.gotPlaylist, v.target = pl.Live, true, pl.TargetDuration
	v.byID = make(map[int64]*segment, len(pl.Segments))
	inPlaylist := make(map[string]bool, len(pl.Segments))
	for _, ps := range pl.Segments {
		inPlaylist[ps.Key] = true
		sg := v.byKey[ps.Key]
		if sg == nil {
			sg = &segment{v: v, state: segQueued, appeared: now}
			v.byKey[ps.Key] = sg
			st.queue = append(st.queue, sg)
		}
		sg.seg, sg.removedAt = ps, time.Time{}
		v.byID[ps.ID] = sg
	}
	for key, sg := range v.byKey {
		if !inPlaylist[key] && sg.removedAt.IsZero() {
			sg.removedAt = now
		}
	}
	v.dirty = true
}

// onFetched stores a downloaded segment, or schedules another attempt.
func (st *stream) onFetched(r fetchResult) {
	sg := r.seg
	v := sg.v
	if v.byKey[sg.seg.Key] != sg {
		return // evicted while downloading
	}
	v.dirty = true
	if r.err != nil {
		st.retryLater(sg)
		st.stats.lastError.Store(&fetchError{msg: r.err.Error(), at: st.s.now()})
		if !errors.Is(r.err, context.Canceled) {
			st.log.Warn().Err(r.err).Str("variant", v.label).Int64("segment", sg.seg.ID).
				Int("attempts", sg.attempts).Msg("segment download failed")
		}
		return
	}
	if !st.s.budget.reserve(int64(len(r.data))) {
		st.s.metrics.cacheRejected.WithLabelValues(st.cfg.ID).Inc()
		if !st.warned {
			st.warned = true
			st.log.Warn().Int64("cache_limit_bytes", int64(st.s.cfg.Cache.MaxBytes)).
				Msg("cache full: segments are not kept; raise cache.max_bytes")
		}
		st.retryLater(sg)
		return
	}
	sg.state, sg.data = segLoaded, r.data
	st.stats.fetchedBytes.Add(int64(len(r.data)))
	st.s.metrics.segmentsCached.WithLabelValues(st.cfg.ID).Inc()
	st.s.metrics.segmentLag.WithLabelValues(st.cfg.ID).Observe(st.s.now().Sub(sg.appeared).Seconds())
}

func (st *stream) retryLater(sg *segment) {
	sg.attempts++
	sg.state = segFailed
	wait := failedRetryMin << min(sg.attempts-1, 5)
	sg.retryAt = st.s.now().Add(min(wait, failedRetryMax))
}

// maintain runs every publishInterval: evicts segments that left a live
// window, requeues failed ones, publishes changed snapshots and updates
// readiness.
func (st *stream) maintain() {
	now := st.s.now()
	for _, v := range st.variants {
		// Keep a segment that left the window for one target duration:
		// browsers reload their playlist up to that much later than we do.
		grace := max(v.target, 2*time.Second)
		for key, sg := range v.byKey {
			switch {
			case !sg.removedAt.IsZero() && now.Sub(sg.removedAt) > grace:
				st.evict(v, key, sg)
			case sg.state == segFailed && sg.removedAt.IsZero() && now.After(sg.retryAt):
				sg.state = segQueued
				st.queue = append(st.queue, sg)
				v.dirty = true
			}
		}
		if v.dirty {
			v.dirty = false
			v.set.Store(st.snapshot(v))
			for _, sw := range v.swarms {
				sw.announceAll()
			}
		}
	}
	st.updateReady()
}

func (st *stream) evict(v *variant, key string, sg *segment) {
	delete(v.byKey, key)
	for id, old := range v.legacy {
		if old == sg {
			delete(v.legacy, id)
		}
	}
	if sg.state == segLoaded {
		st.s.budget.release(int64(len(sg.data)))
		st.s.metrics.segmentsCached.WithLabelValues(st.cfg.ID).Dec()
	}
	sg.data = nil
	v.dirty = true
}

// snapshot builds the servable set of a variant.
func (st *stream) snapshot(v *variant) *segmentSet {
	set := &segmentSet{data: map[int64][]byte{}, live: v.live}
	for id, sg := range v.legacy {
		if sg.state == segLoaded {
			set.data[id] = sg.data
		}
	}
	for _, sg := range v.byKey {
		if sg.state == segLoaded && !sg.removedAt.IsZero() {
			set.data[sg.seg.ID] = sg.data
		}
	}
	for id, sg := range v.byID {
		switch sg.state {
		case segLoaded:
			set.data[id] = sg.data
			set.loaded = append(set.loaded, id)
		case segQueued, segFetching:
			set.loading = append(set.loading, id)
		}
	}
	slices.Sort(set.loaded) // byID keys: already unique
	slices.Sort(set.loading)
	return set
}

// dispatch hands queued segments to idle workers while the cache has room.
func (st *stream) dispatch() {
	for len(st.queue) > 0 {
		sg := st.queue[0]
		if sg.state != segQueued || sg.v.byKey[sg.seg.Key] != sg || !sg.removedAt.IsZero() {
			st.queue = st.queue[1:] // stale entry
			continue
		}
		if st.s.budget.free() <= 0 {
			return
		}
		select {
		case st.jobs <- sg:
			sg.state = segFetching
			st.queue = st.queue[1:]
		default:
			return // all workers busy
		}
	}
	if cap(st.queue) > 64 && len(st.queue) < cap(st.queue)/4 {
		st.queue = append([]*segment(nil), st.queue...) // let a drained backlog be collected
	}
}

// updateReady sets readiness: every playlist loaded and every swarm
// announced to at least one tracker.
func (st *stream) updateReady() {
	ready := len(st.variants) > 0
	for _, v := range st.variants {
		if !v.gotPlaylist {
			ready = false
		}
		for _, sw := range v.swarms {
			if !sw.joined.Load() {
				ready = false
			}
		}
	}
	if st.ready.Swap(ready) != ready {
		st.log.Info().Bool("ready", ready).Msg("stream readiness changed")
		st.s.metrics.streamReady.WithLabelValues(st.cfg.ID).Set(b2f(ready))
	}
}

// releaseAll returns every held segment to the budget on shutdown.
func (st *stream) releaseAll() {
	for _, v := range st.variants {
		for key, sg := range v.byKey {
			st.evict(v, key, sg)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
