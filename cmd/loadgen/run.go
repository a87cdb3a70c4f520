package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/superpeer/superpeer/pkg/tracker"
)

// runConfig is the load of one measurement.
type runConfig struct {
	rate        float64       // browser arrivals per second
	settle      time.Duration // quiet time before a memory sample
	idle        time.Duration // idle CPU window
	duration    time.Duration // pull window
	pullEvery   time.Duration // each puller's request interval; 0: back to back
	publish     time.Duration // live: interval between the segments published
	joinTimeout time.Duration
	attempts    int
	certs       []webrtc.Certificate
	offers      int  // browsers' offers per announce (browserEnv.offers: 0 is 5, negative none)
	stay        bool // connected browsers stay on the tracker
}

// result is one target's figures at one size. Durations are in ms, CPU in
// cores (CPU seconds per second).
type result struct {
	Target string `json:"target"`
	Mode   string `json:"mode"` // hold or pull
	Peers  int    `json:"peers"`
	Held   int    `json:"held"`   // connected and still up at the end of the idle window
	Failed int    `json:"failed"` // never connected
	Lost   int    `json:"lost"`   // connected, then the connection went down

	ArrivalRate   float64 `json:"arrival_rate"`
	SetupP50Ms    float64 `json:"setup_p50_ms"`
	SetupP99Ms    float64 `json:"setup_p99_ms"`
	SetupAttempts float64 `json:"setup_attempts_mean"`
	// SeedSetupFast is the share of the connections the target answered
	// during the arrivals that opened within 100 ms of it taking the offer,
	// by its own clock (superpeer_peer_setup_seconds): the seed's part of
	// the setup, without the tracker and the simulated browsers, whose
	// work shares the box. -1 for a target that does not export it.
	SeedSetupFast float64 `json:"seed_setup_within_100ms"`

	BaseRSSKiB int64   `json:"base_rss_kib"`
	HeldRSSKiB int64   `json:"held_rss_kib"`
	KiBPerPeer float64 `json:"kib_per_peer"` // at the end of the idle window
	// PeakRSSKiB is the largest RSS sampled (every second) over the idle
	// window. A process whose collector lets garbage grow with its heap
	// (GOGC) keeps rising while idle until its next cycle, and the memory
	// it needs is the top of that climb: with an idle window longer than
	// its GC cycle, PeakKiBPerPeer is what it holds in a steady state.
	PeakRSSKiB     int64   `json:"peak_rss_kib"`
	PeakKiBPerPeer float64 `json:"peak_kib_per_peer"`
	BaseCPUCores   float64 `json:"base_cpu_cores"`
	IdleCPUCores   float64 `json:"idle_cpu_cores"`  // above the base
	CoresPer1000   float64 `json:"cores_per_1000"`  // idle, above the base
	BaseGoroutines int     `json:"base_goroutines"` // -1 unknown
	HeldGoroutines int     `json:"held_goroutines"` // -1 unknown
	GoroutinesPer  float64 `json:"goroutines_per_peer"`
	// HeapKiBPerPeer and StackKiBPerPeer split KiBPerPeer by the target's
	// go_memstats_{heap,stack}_inuse_bytes (0 when it exports none).
	HeapKiBPerPeer  float64 `json:"heap_kib_per_peer"`
	StackKiBPerPeer float64 `json:"stack_kib_per_peer"`
	OriginBytes     int64   `json:"origin_bytes"`
	UniqueBytes     int64   `json:"unique_bytes"`
	OriginRatio     float64 `json:"origin_ratio"`

	Pull     *pullResult     `json:"pull,omitempty"`
	Announce *announceResult `json:"announce,omitempty"`
}

// announceResult is how long new live segments took to reach the held
// browsers: from the origin's sending a segment's last byte to the target
// to each browser's receiving the first announcement that lists it.
type announceResult struct {
	Segments int     `json:"segments"` // published per variant
	Samples  int     `json:"samples"`  // (browser, segment) pairs announced
	Missing  int     `json:"missing"`  // pairs never announced (or never fetched)
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	// CPUUsPerAnnounce is the target's CPU time over the phase, less its
	// idle rate, per (browser, segment) pair: the fetches of the segments
	// included, so an upper bound of the cost of one announcement.
	CPUUsPerAnnounce float64 `json:"cpu_us_per_announce"`
	// SeedAnnounces counts the announcements of new segments the target
	// wrote to browsers over the phase by its own clock
	// (superpeer_peer_announce_delay_seconds), and SeedFast the share of
	// them written within 100 ms of the target holding the segment: its
	// side of the delay, without the simulated browsers, whose work shares
	// the box. SeedFast is -1 for a target that does not export it.
	SeedAnnounces float64 `json:"seed_announces"`
	SeedFast      float64 `json:"seed_announce_within_100ms"`
	// SeedP50Ms and SeedP99Ms bound the target's own delays from above: the
	// smallest bucket of its histogram that holds half, and 99 %, of them
	// (-1 when unknown; +Inf as 0 ms never happens, the last bucket is 5 s).
	SeedP50Ms float64 `json:"seed_announce_p50_at_most_ms"`
	SeedP99Ms float64 `json:"seed_announce_p99_at_most_ms"`
}

type pullResult struct {
	Pullers     int     `json:"pullers"`
	Seconds     float64 `json:"seconds"`
	Mbps        float64 `json:"mbit_per_s"`
	CPUCores    float64 `json:"cpu_cores"`
	MbpsPerCore float64 `json:"mbit_per_s_per_core"`
	Segments    int64   `json:"segments"`
	LatP50Ms    float64 `json:"latency_p50_ms"`
	LatP99Ms    float64 `json:"latency_p99_ms"`
	Stalls      int64   `json:"stalls"`
	BadBytes    int64   `json:"verify_failures"`
	Errors      int64   `json:"errors"`
	RSSKiB      int64   `json:"rss_kib"`
}

// measure connects n browsers to the running target t, measures it holding
// them, and, with pull, has every one of them pull for rc.duration.
func measure(ctx context.Context, t *target, org *origin, swarms []swarmInfo, apis []*webrtc.API, n int, pull bool, rc runConfig) (result, error) {
	r := result{Target: t.name, Mode: "hold", Peers: n, ArrivalRate: rc.rate, UniqueBytes: org.spec.uniqueBytes()}
	if pull {
		r.Mode = "pull"
	}
	// The target has the whole stream once the origin has sent every segment.
	for deadline := time.Now().Add(2 * time.Minute); !org.complete(); {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return r, fmt.Errorf("%s did not fetch the whole stream", t.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sleep(ctx, rc.settle)
	base, err := sampleProc(t.pid, t.metricsURL)
	if err != nil {
		return r, err
	}
	sleep(ctx, rc.settle)
	base2, err := sampleProc(t.pid, t.metricsURL)
	if err != nil {
		return r, err
	}
	r.BaseRSSKiB, r.BaseGoroutines = base2.rssKiB, base2.goroutines
	r.BaseCPUCores = cores(base, base2)

	env := &browserEnv{trackerURL: t.trackerURL, metrics: tracker.NewMetrics(prometheus.NewRegistry()),
		joinTimeout: rc.joinTimeout, attempts: rc.attempts, org: org, certs: rc.certs, offers: rc.offers, stay: rc.stay}
	browsers := make([]*browser, n)
	setups := make([]time.Duration, n)
	attempts := make([]int, n)
	ok := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	logf("%s: connecting %d browsers at %.0f/s", t.name, n, rc.rate)
	for i := range n {
		at := start.Add(time.Duration(float64(i) / rc.rate * float64(time.Second)))
		sleep(ctx, time.Until(at))
		if ctx.Err() != nil {
			break
		}
		b := newBrowser(env, apis[i%len(apis)], swarms[i%len(swarms)])
		browsers[i] = b
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, a, err := b.connect(ctx)
			setups[i], attempts[i], ok[i] = d, a, err == nil
		}()
	}
	wg.Wait()
	defer closeAll(browsers)
	var held []*browser
	var okSetups []time.Duration
	sumAttempts := 0
	for i, b := range browsers {
		if ok[i] {
			held = append(held, b)
			okSetups = append(okSetups, setups[i])
			sumAttempts += attempts[i]
		}
	}
	r.Held, r.Failed = len(held), n-len(held)
	r.SetupP50Ms, r.SetupP99Ms = percentileMs(okSetups, 50), percentileMs(okSetups, 99)
	if len(held) > 0 {
		r.SetupAttempts = float64(sumAttempts) / float64(len(held))
	}
	logf("%s: %d/%d connected in %s (setup p50 %.0f ms, p99 %.0f ms)", t.name, r.Held, n, time.Since(start).Round(time.Millisecond), r.SetupP50Ms, r.SetupP99Ms)
	if ctx.Err() != nil {
		return r, ctx.Err()
	}

	sleep(ctx, rc.settle)
	s1, err := sampleProc(t.pid, t.metricsURL)
	if err != nil {
		return r, err
	}
	r.SeedSetupFast = -1
	if s1.setups > base2.setups && base2.setups >= 0 {
		r.SeedSetupFast = (s1.setupsFast - base2.setupsFast) / (s1.setups - base2.setups)
	}
	// A pull run profiles its pull window, a live run its announce phase.
	profileIdle := t.profiling && !pull && org.spec.live == 0
	if profileIdle {
		_ = syscall.Kill(t.pid, syscall.SIGUSR1) // start the idle CPU profile
	}
	peakKiB := watchRSS(ctx, t.pid, rc.idle)
	s2, err := sampleProc(t.pid, t.metricsURL)
	if err != nil {
		return r, err
	}
	if profileIdle {
		// Stop the CPU profile and write heap and goroutine profiles while
		// every browser is still connected.
		_ = syscall.Kill(t.pid, syscall.SIGUSR2)
		sleep(ctx, 3*time.Second)
	}
	r.HeldRSSKiB, r.HeldGoroutines = s2.rssKiB, s2.goroutines
	r.PeakRSSKiB = max(s1.rssKiB, peakKiB, s2.rssKiB)
	alive := held[:0:0]
	for _, b := range held {
		if b.alive() {
			alive = append(alive, b)
		}
	}
	r.Lost = len(held) - len(alive)
	held = alive
	r.Held = len(held)
	r.IdleCPUCores = max(0, cores(s1, s2)-r.BaseCPUCores)
	if r.Held > 0 {
		r.KiBPerPeer = float64(r.HeldRSSKiB-r.BaseRSSKiB) / float64(r.Held)
		r.PeakKiBPerPeer = float64(r.PeakRSSKiB-r.BaseRSSKiB) / float64(r.Held)
		r.CoresPer1000 = r.IdleCPUCores / float64(r.Held) * 1000
		if r.BaseGoroutines >= 0 && r.HeldGoroutines >= 0 {
			r.GoroutinesPer = float64(r.HeldGoroutines-r.BaseGoroutines) / float64(r.Held)
		}
		if base2.heapInuse >= 0 && s2.heapInuse >= 0 {
			r.HeapKiBPerPeer = float64(s2.heapInuse-base2.heapInuse) / 1024 / float64(r.Held)
			r.StackKiBPerPeer = float64(s2.stackInuse-base2.stackInuse) / 1024 / float64(r.Held)
		}
	}

	if org.spec.live > 0 && len(held) > 0 {
		r.Announce, err = announcePhase(ctx, t, held, org, rc, r.IdleCPUCores+r.BaseCPUCores, t.profiling && !pull)
		if err != nil {
			return r, err
		}
	}
	if pull && len(held) > 0 {
		r.Pull, err = pullPhase(ctx, t, held, org, rc)
		if err != nil {
			return r, err
		}
	}
	r.OriginBytes = org.segBytes.Load()
	r.OriginRatio = float64(r.OriginBytes) / float64(r.UniqueBytes)
	return r, nil
}

// announcePhase publishes the live segments one every rc.publish while every
// held browser watches its announcements, then reports how long each
// segment took from the origin to each browser. A pair not announced within
// three intervals after the last publish counts as missing. With profile,
// the target's CPU and heap profiles cover the phase.
func announcePhase(ctx context.Context, t *target, held []*browser, org *origin, rc runConfig, idleCores float64, profile bool) (*announceResult, error) {
	from, n := int64(org.spec.segments), org.spec.live
	seen := make([][]time.Time, len(held))
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, b := range held {
		seen[i] = make([]time.Time, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.watchAnnouncements(wctx, from, seen[i])
		}()
	}
	logf("publishing %d live segments, one every %s, to %d browsers", n, rc.publish, len(held))
	p0, err := sampleProc(t.pid, t.metricsURL)
	if err != nil {
		cancel()
		wg.Wait()
		return nil, err
	}
	if profile {
		_ = syscall.Kill(t.pid, syscall.SIGUSR1)
	}
	for org.publish() >= 0 {
		sleep(ctx, rc.publish)
	}
	sleep(ctx, 3*rc.publish)
	p1, err := sampleProc(t.pid, t.metricsURL)
	if profile {
		_ = syscall.Kill(t.pid, syscall.SIGUSR2)
	}
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}

	ar := &announceResult{Segments: n, SeedFast: -1, SeedP50Ms: -1, SeedP99Ms: -1}
	if total := p1.announceLE[math.Inf(1)] - p0.announceLE[math.Inf(1)]; total > 0 {
		ar.SeedAnnounces = total
		ar.SeedFast = (p1.announceLE[0.1] - p0.announceLE[0.1]) / total
		if b, ok := quantileBound(p0.announceLE, p1.announceLE, 0.5); ok && !math.IsInf(b, 1) {
			ar.SeedP50Ms = b * 1000
		}
		if b, ok := quantileBound(p0.announceLE, p1.announceLE, 0.99); ok && !math.IsInf(b, 1) {
			ar.SeedP99Ms = b * 1000
		}
	}
	var lat []time.Duration
	for i, b := range held {
		for k, at := range seen[i] {
			fetched, ok := org.fetchedAt(b.sw.variant, int(from)+k)
			if at.IsZero() || !ok {
				ar.Missing++
				continue
			}
			lat = append(lat, at.Sub(fetched))
		}
	}
	ar.Samples = len(lat)
	ar.P50Ms, ar.P99Ms, ar.MaxMs = percentileMs(lat, 50), percentileMs(lat, 99), percentileMs(lat, 100)
	if ar.Samples > 0 {
		busy := (p1.cpu - p0.cpu).Seconds() - idleCores*p1.at.Sub(p0.at).Seconds()
		ar.CPUUsPerAnnounce = max(0, busy) / float64(ar.Samples) * 1e6
	}
	return ar, nil
}

// pullPhase has every held browser pull back to back; after a 2 s warm-up
// it measures bytes delivered against the target's CPU for rc.duration.
func pullPhase(ctx context.Context, t *target, held []*browser, org *origin, rc runConfig) (*pullResult, error) {
	st := &pullStats{}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, b := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.pull(pctx, st, org.spec.segments, rc.pullEvery)
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	sleep(ctx, 2*time.Second)
	st.mu.Lock()
	st.latencies = st.latencies[:0]
	st.mu.Unlock()
	b0, stalls0, seg0 := st.bytes.Load(), st.stalls.Load(), st.segments.Load()
	p0, err := sampleProc(t.pid, t.metricsURL)
	if err != nil {
		return nil, err
	}
	if t.profiling {
		_ = syscall.Kill(t.pid, syscall.SIGUSR1) // profile the pull window
	}
	sleep(ctx, rc.duration)
	p1, err := sampleProc(t.pid, t.metricsURL)
	if err != nil {
		return nil, err
	}
	if t.profiling {
		_ = syscall.Kill(t.pid, syscall.SIGUSR2) // and the heap while pulling
	}
	b1 := st.bytes.Load()
	secs := p1.at.Sub(p0.at).Seconds()
	pr := &pullResult{
		Pullers:  len(held),
		Seconds:  secs,
		Mbps:     float64(b1-b0) * 8 / secs / 1e6,
		CPUCores: cores(p0, p1),
		Segments: st.segments.Load() - seg0,
		Stalls:   st.stalls.Load() - stalls0,
		BadBytes: st.bad.Load(),
		Errors:   st.errors.Load(),
		RSSKiB:   p1.rssKiB,
	}
	if pr.CPUCores > 0 {
		pr.MbpsPerCore = pr.Mbps / pr.CPUCores
	}
	st.mu.Lock()
	lat := slices.Clone(st.latencies)
	st.mu.Unlock()
	pr.LatP50Ms, pr.LatP99Ms = percentileMs(lat, 50), percentileMs(lat, 99)
	return pr, nil
}

func closeAll(bs []*browser) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, b := range bs {
		if b == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			b.close()
			<-sem
		}()
	}
	wg.Wait()
}

func cores(a, b procSample) float64 {
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return (b.cpu - a.cpu).Seconds() / dt
}

func percentileMs(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return float64(s[i]) / float64(time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
