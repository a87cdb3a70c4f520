package seeder

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/superpeer/superpeer/pkg/playlist"
)

// Timings of the stream goroutine.
const (
	// tickInterval paces evictions, retries and deferred publishing.
	tickInterval = 50 * time.Millisecond
	// publishEvery and publishBurst pace the snapshots of a variant: a
	// change is published at once while the burst allowance lasts, so
	// browsers hear of a new live segment the moment superpeer starts and
	// ends its fetch (5.x browsers fetch over HTTP only what no neighbour
	// announces); a long burst (a VOD loading) is coalesced to one snapshot
	// per publishEvery, at most tickInterval later.
	publishEvery = 25 * time.Millisecond
	publishBurst = 4
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
	segFailed                   // download failed; retried at retryAt
	segParked                   // no cache room (VOD): fetched again only once there is room
)

// segment is one media segment of a variant, owned by the stream goroutine.
type segment struct {
	v         *variant
	seg       playlist.Segment // the latest playlist entry (URL, range, ids)
	state     segState
	data      []byte
	appeared  time.Time // first seen in the playlist
	loadedAt  time.Time // held since, zero until published as held
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
	order  []*segment          // the current playlist, in order
	legacy []legacyEntry       // entries from before a live playlist ended (see onPlaylist)

	held        int64 // bytes of the loaded segments
	heldCount   int   // loaded segments
	parked      int   // segments waiting for cache room
	live        bool
	gotPlaylist bool
	target      time.Duration
	dirty       bool
	pace        *rate.Limiter // snapshots (publishEvery, publishBurst)

	set    atomic.Pointer[segmentSet] // the latest published snapshot
	swarms []*swarm
}

// legacyEntry is a segment under the playlist entry it had while the
// playlist was live.
type legacyEntry struct {
	sg    *segment
	entry playlist.Segment
}

// follower is a stream's playlist source (playlist.Follower).
type follower interface {
	Run(ctx context.Context, events chan<- playlist.Event) error
}

// fetcher downloads segments (playlist.Fetcher).
type fetcher interface {
	Fetch(ctx context.Context, s playlist.Segment) ([]byte, error)
}

// streamEnv is what the seeder hands a stream: its sources, the shared
// cache budget, the generations it seeds and the environment of its swarms.
type streamEnv struct {
	// client fetches the stream's playlists and segments (its policy).
	client   *http.Client
	follower follower
	fetcher  fetcher
	budget   *budget
	gens     []generation
	swarm    *swarmEnv
	metrics  *streamMetrics
	stats    *streamStats
	// concurrency is the number of fetch workers.
	concurrency int
	// cacheLimit is cache.max_bytes, for the cache-full warning.
	cacheLimit int64
	now        func() time.Time
	log        zerolog.Logger
}

// stream follows one configured stream, keeps its segments and runs its
// swarms. Its goroutine (loop) owns all variant and segment state; fetch
// workers and peers talk to it through channels and atomic snapshots.
type stream struct {
	env *streamEnv
	cfg StreamConfig
	log zerolog.Logger

	variants []*variant
	queue    []*segment
	jobs     chan fetchJob
	results  chan fetchResult
	ready    atomic.Bool
	warned   bool                       // cache-full warning given
	view     atomic.Pointer[streamView] // for status readers, set once
}

// streamView is what other goroutines may read of a stream once its
// manifest is loaded: the variants never change after that (their segment
// sets are atomic and their swarms lock themselves).
type streamView struct {
	base     string
	variants []*variant
}

// fetchJob is a segment handed to a worker, with its playlist entry as of
// the hand-over: the loop goroutine replaces sg.seg on every playlist
// refresh, so the worker must not read it while it fetches.
type fetchJob struct {
	seg   *segment
	entry playlist.Segment
}

type fetchResult struct {
	seg  *segment
	data []byte
	err  error
}

func newStream(env *streamEnv, cfg StreamConfig) *stream {
	return &stream{
		env:     env,
		cfg:     cfg,
		log:     env.log,
		jobs:    make(chan fetchJob, env.concurrency),
		results: make(chan fetchResult, env.concurrency),
	}
}

// run follows the stream until ctx ends.
func (st *stream) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	events := make(chan playlist.Event, 16)
	g.Go(func() error { return st.env.follower.Run(ctx, events) })
	for range st.env.concurrency {
		g.Go(func() error { st.worker(ctx); return nil })
	}
	g.Go(func() error { return st.loop(ctx, events) })
	err := g.Wait()
	// Downloads that finished after the loop stopped hold reserved bytes.
	for {
		select {
		case r := <-st.results:
			if r.err == nil {
				st.env.budget.Release(int64(len(r.data)))
			}
		default:
			return err
		}
	}
}

// worker downloads queued segments. The fetcher retries transient errors.
func (st *stream) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-st.jobs:
			data, err := st.env.fetcher.Fetch(ctx, job.entry)
			select {
			case st.results <- fetchResult{seg: job.seg, data: data, err: err}:
			case <-ctx.Done():
				if err == nil {
					st.env.budget.Release(int64(len(data)))
				}
				return
			}
		}
	}
}

func (st *stream) loop(ctx context.Context, events <-chan playlist.Event) error {
	tick := time.NewTicker(tickInterval)
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
		st.publish()
	}
}

// onManifest creates a variant for every media playlist, and its swarms
// under every generation that shares it. The manifest is loaded once;
// browsers do not reload it either.
func (st *stream) onManifest(ctx context.Context, m *playlist.Manifest) {
	if st.variants != nil {
		return
	}
	if len(m.Variants) == 0 {
		// The stream stays not ready; other streams are unaffected.
		st.log.Error().Str("url", m.URL).Msg("manifest has no media playlist to seed")
		return
	}
	for i, pv := range m.Variants {
		v := &variant{
			index: i,
			label: string(pv.Type) + "-" + strconv.Itoa(pv.Ordinal),
			pv:    pv,
			byKey: map[string]*segment{},
			pace:  rate.NewLimiter(rate.Every(publishEvery), publishBurst),
		}
		v.set.Store(emptySegmentSet)
		st.variants = append(st.variants, v)
	}
	id := streamIdentity{SwarmID: st.cfg.SwarmID, RequestURL: st.cfg.URL}
	swarms := 0
	for _, gen := range st.env.gens {
		for _, sid := range gen.swarms(id, m) {
			v := st.variants[sid.Variant]
			sw := newSwarm(ctx, st.env.swarm, gen, sid, v.label)
			v.swarms = append(v.swarms, sw)
			sw.join()
			swarms++
			st.log.Debug().Str("variant", v.label).Str("generation", string(sw.gen)).
				Str("swarm", sid.SwarmID).Str("info_hash", printableHash(sid.InfoHash)).Msg("swarm")
		}
	}
	base := st.cfg.SwarmID
	if base == "" {
		base = m.SwarmBase
	}
	st.view.Store(&streamView{base: base, variants: st.variants})
	st.log.Info().Str("swarm_base", base).Int("swarms", swarms).Msg("swarms created")
}

// onPlaylist merges a new snapshot of a media playlist.
func (st *stream) onPlaylist(v *variant, pl *playlist.MediaPlaylist) {
	now := st.env.now()
	st.env.stats.lastPlaylist.Store(now.UnixNano())
	if v.live && !pl.Live {
		// The stream ended: 2.x browsers that load it from now on number its
		// segments by position instead of media sequence. Browsers already
		// playing keep the old numbers for segments they knew, so requests
		// in the old numbering are still served.
		v.legacy = v.legacy[:0]
		for _, sg := range v.order {
			v.legacy = append(v.legacy, legacyEntry{sg: sg, entry: sg.seg})
		}
		st.log.Info().Str("variant", v.label).Msg("live playlist ended")
	}
	v.live, v.gotPlaylist, v.target = pl.Live, true, pl.TargetDuration
	v.order = make([]*segment, 0, len(pl.Segments))
	inPlaylist := make(map[string]bool, len(pl.Segments))
	var added []*segment
	for _, ps := range pl.Segments {
		if inPlaylist[ps.Key] {
			continue // the same segment twice: announced once
		}
		inPlaylist[ps.Key] = true
		sg := v.byKey[ps.Key]
		if sg == nil {
			sg = &segment{v: v, state: segQueued, appeared: now}
			v.byKey[ps.Key] = sg
			added = append(added, sg)
		}
		sg.seg, sg.removedAt = ps, time.Time{}
		v.order = append(v.order, sg)
	}
	if pl.Live {
		// Live browsers play at the edge: fetch the newest first, so that a
		// long DVR window that does not fit the cache still has its edge.
		slices.Reverse(added)
	}
	st.queue = append(st.queue, added...)
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
		if r.err == nil {
			st.env.budget.Release(int64(len(r.data))) // evicted while downloading
		}
		return
	}
	v.dirty = true
	if errors.Is(r.err, playlist.ErrNoRoom) {
		st.noRoom(sg)
		return
	}
	if r.err != nil {
		st.retryLater(sg)
		st.env.stats.lastError.Store(&fetchError{msg: r.err.Error(), at: st.env.now()})
		if !errors.Is(r.err, context.Canceled) {
			st.log.Warn().Err(r.err).Str("variant", v.label).Int64("segment", sg.seg.ID).
				Int("attempts", sg.attempts).Msg("segment download failed")
		}
		return
	}
	if r.data == nil {
		r.data = []byte{} // held, if empty: nil means not loaded
	}
	sg.state, sg.data, sg.loadedAt = segLoaded, r.data, st.env.now()
	v.held += int64(len(r.data))
	v.heldCount++
	st.env.stats.fetchedBytes.Add(int64(len(r.data)))
	st.env.metrics.segmentsCached.Inc()
	st.env.metrics.segmentLag.Observe(st.env.now().Sub(sg.appeared).Seconds())
}

// noRoom handles a segment the cache could not take. A live variant gives
// up its oldest segments for it: browsers play at the live edge. A VOD
// segment waits, without being fetched again, until there is room: fetching
// what cannot be kept would only load the origin.
func (st *stream) noRoom(sg *segment) {
	v := sg.v
	st.env.metrics.cacheRejected.Inc()
	if !st.warned {
		st.warned = true
		st.log.Warn().Int64("cache_limit_bytes", st.env.cacheLimit).
			Msg("cache full: segments are not kept; raise cache.max_bytes")
	}
	if v.live && st.evictOldest(v, sg, max(v.avgSize(), 1)) {
		sg.state = segQueued
		st.queue = append([]*segment{sg}, st.queue...)
		return
	}
	sg.state = segParked
	v.parked++
}

// evictOldest frees at least want bytes of v's segments older than sg:
// those that left the playlist first, then the playlist's oldest. It
// reports whether it freed enough.
func (st *stream) evictOldest(v *variant, sg *segment, want int64) bool {
	freed := int64(0)
	for key, old := range v.byKey {
		if freed >= want {
			break
		}
		if old.state == segLoaded && !old.removedAt.IsZero() {
			freed += int64(len(old.data))
			st.evict(v, key, old)
		}
	}
	for _, old := range v.order {
		if freed >= want || old == sg || old.seg.Sequence >= sg.seg.Sequence {
			break
		}
		if old.state == segLoaded {
			freed += int64(len(old.data))
			st.unload(v, old)
		}
	}
	return freed >= want
}

// avgSize is the mean size of v's held segments, 0 before any.
func (v *variant) avgSize() int64 {
	if v.heldCount == 0 {
		return 0
	}
	return v.held / int64(v.heldCount)
}

func (st *stream) retryLater(sg *segment) {
	sg.attempts++
	sg.state = segFailed
	wait := failedRetryMin << min(sg.attempts-1, 5)
	sg.retryAt = st.env.now().Add(min(wait, failedRetryMax))
}

// maintain runs every tickInterval: evicts segments that left a live
// window, requeues failed ones and updates readiness.
func (st *stream) maintain() {
	now := st.env.now()
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
		if v.parked > 0 && !v.live && st.env.budget.free() > 2*max(v.avgSize(), 1) {
			// Room again (another stream shrank): fetch what waited, in order.
			for _, sg := range v.order {
				if sg.state == segParked {
					sg.state = segQueued
					v.parked--
					st.queue = append(st.queue, sg)
				}
			}
		}
	}
	st.updateReady()
}

// publish hands a new snapshot of every changed variant to its swarms, as
// often as each variant's pace allows.
func (st *stream) publish() {
	now := st.env.now()
	for _, v := range st.variants {
		if !v.dirty || !v.pace.AllowN(now, 1) {
			continue
		}
		v.dirty = false
		set := st.snapshot(v)
		for _, sg := range v.order {
			if sg.state == segLoaded && !sg.loadedAt.IsZero() && (set.Fresh.IsZero() || sg.loadedAt.Before(set.Fresh)) {
				set.Fresh = sg.loadedAt
			}
		}
		v.set.Store(set)
		for _, sw := range v.swarms {
			sw.publish(set)
		}
		for _, sg := range v.order {
			if sg.state == segLoaded && !sg.loadedAt.IsZero() {
				// From holding the bytes to every swarm's peers being told.
				st.env.metrics.announceDelay.Observe(st.env.now().Sub(sg.loadedAt).Seconds())
				sg.loadedAt = time.Time{}
			}
		}
	}
}

func (st *stream) evict(v *variant, key string, sg *segment) {
	delete(v.byKey, key)
	v.legacy = slices.DeleteFunc(v.legacy, func(e legacyEntry) bool { return e.sg == sg })
	st.unload(v, sg)
	if sg.state == segParked {
		v.parked--
	}
}

// unload drops a segment's bytes; it stays known (in the playlist, not
// fetched again) if it is not evicted.
func (st *stream) unload(v *variant, sg *segment) {
	if sg.state == segLoaded {
		st.env.budget.Release(int64(len(sg.data)))
		st.env.metrics.segmentsCached.Dec()
		v.held -= int64(len(sg.data))
		v.heldCount--
		sg.state = segParked
		v.parked++
	}
	sg.data = nil
	v.dirty = true
}

// snapshot builds the generation-neutral segment set of a variant.
func (st *stream) snapshot(v *variant) *segmentSet {
	set := &segmentSet{Live: v.live}
	for _, sg := range v.order {
		switch sg.state {
		case segLoaded:
			set.Current = append(set.Current, heldSegment{Seg: sg.seg, Data: sg.data})
		case segQueued, segFetching:
			// Announced as being fetched from the moment the playlist shows it.
			set.Current = append(set.Current, heldSegment{Seg: sg.seg})
		}
	}
	for _, sg := range v.byKey {
		if sg.state == segLoaded && !sg.removedAt.IsZero() {
			set.Gone = append(set.Gone, heldSegment{Seg: sg.seg, Data: sg.data})
		}
	}
	for _, e := range v.legacy {
		if e.sg.state == segLoaded {
			set.Legacy = append(set.Legacy, heldSegment{Seg: e.entry, Data: e.sg.data})
		}
	}
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
		if free := st.env.budget.free(); free <= 0 || free < sg.v.avgSize() {
			// Never fetch what cannot be kept. A live variant gives up its
			// oldest segments for a newer one; anything else waits for
			// room, and the queue goes on (a newer live segment behind it
			// must not wait for it).
			if !sg.v.live || !st.evictOldest(sg.v, sg, max(sg.v.avgSize(), 1)) {
				st.queue = st.queue[1:]
				sg.state = segParked
				sg.v.parked++
				st.env.metrics.cacheRejected.Inc()
				continue
			}
		}
		select {
		case st.jobs <- fetchJob{seg: sg, entry: sg.seg}:
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
		st.env.metrics.ready.Set(b2f(ready))
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

// leave takes every swarm off the trackers (the stream is removed).
func (st *stream) leave() {
	if view := st.view.Load(); view != nil {
		for _, v := range view.variants {
			for _, sw := range v.swarms {
				sw.leave()
			}
		}
	}
}

// closePending drops the unanswered offers of every swarm (shutdown).
func (st *stream) closePending() {
	if view := st.view.Load(); view != nil {
		for _, v := range view.variants {
			for _, sw := range v.swarms {
				sw.closePending()
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
