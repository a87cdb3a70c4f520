package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/wire"
)

// soakConfig is the churn soak's load (-soak): a population of browsers
// that keep arriving, pulling, misbehaving a little and going away, for a
// long time, while the target's RSS, goroutines and descriptors are
// sampled. Leaks show as growth between the reference sample and the end.
//
// Both verdict samples are taken at rest: browsers stop pulling, joining and
// leaving for the rest period, then the target is sampled. A busy target's
// goroutine count says little: pion's DTLS starts a goroutine for every
// record it writes, so at a few Gbit/s thousands of them exist at any
// instant, and their number follows the load of that second (measured: 1,600
// to 4,100 of them in one 14-minute soak, on 1,650 steady ones). Vanished
// browsers are reaped during the rest too (ICE failure after 20 s).
type soakConfig struct {
	duration   time.Duration // whole soak
	reference  time.Duration // when the rest that the end is compared with starts
	rest       time.Duration // quiet time before each verdict sample
	every      time.Duration // sample interval
	population int           // browsers connected or connecting at any time
	lifetime   time.Duration // mean time a browser stays connected
	tolerance  float64       // allowed growth from the reference to the end
}

// soakSample is the target at one instant of the soak.
type soakSample struct {
	AtSeconds  float64 `json:"at_s"`
	RSSKiB     int64   `json:"rss_kib"`
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"fds"`
	Connected  int64   `json:"browsers_connected"`
}

// soakResult is the soak's report.
type soakResult struct {
	Population int          `json:"population"`
	Samples    []soakSample `json:"samples"`
	// Reference and End are each the median of five samples taken one
	// second apart at rest (see soakConfig), at the reference time and at
	// the end.
	Reference      soakSample `json:"reference"`
	End            soakSample `json:"end"`
	RSSRatio       float64    `json:"rss_ratio"`
	GoroutineRatio float64    `json:"goroutine_ratio"`
	FDRatio        float64    `json:"fd_ratio"`

	Joined     int64 `json:"joined"`
	JoinFailed int64 `json:"join_failed"`
	Left       int64 `json:"left"`     // closed their connection
	Vanished   int64 `json:"vanished"` // went silent: socket closed, nothing sent
	Misbehaved int64 `json:"misbehaved"`

	Segments int64 `json:"segments_verified"`
	Bytes    int64 `json:"bytes"`
	Stalls   int64 `json:"stalls"`
	Bad      int64 `json:"verify_failures"`
	Pass     bool  `json:"pass"`
}

// soaker runs one soak against a started target.
type soaker struct {
	cfg    soakConfig
	env    *browserEnv
	apis   []*webrtc.API
	swarms []swarmInfo
	org    *origin
	st     pullStats
	hold   gate // closed while the soak rests

	connected                                      atomic.Int64
	joined, joinFailed, left, vanished, misbehaved atomic.Int64
}

func runSoak(ctx context.Context, t *target, org *origin, swarms []swarmInfo, apis []*webrtc.API, rc runConfig, cfg soakConfig) (soakResult, error) {
	res := soakResult{Population: cfg.population}
	for deadline := time.Now().Add(2 * time.Minute); !org.complete(); {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return res, fmt.Errorf("%s did not fetch the whole stream", t.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s := &soaker{cfg: cfg, apis: apis, swarms: swarms, org: org,
		env: &browserEnv{trackerURL: t.trackerURL, metrics: tracker.NewMetrics(prometheus.NewRegistry()),
			joinTimeout: rc.joinTimeout, attempts: rc.attempts, org: org, certs: rc.certs, offers: rc.offers, stay: rc.stay}}
	s.hold.open()
	sctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var wg sync.WaitGroup
	for i := range cfg.population {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the first arrivals over the arrival rate.
			sleep(sctx, time.Duration(float64(i)/rc.rate*float64(time.Second)))
			s.slot(sctx, i)
		}()
	}
	start := time.Now()
	logf("soak: %d browsers for %s, mean life %s, samples every %s, rests of %s at %s and at the end",
		cfg.population, cfg.duration, cfg.lifetime, cfg.every, cfg.rest, cfg.reference)
	sample := func() (soakSample, error) {
		ps, err := sampleProc(t.pid, t.metricsURL)
		if err != nil {
			return soakSample{}, fmt.Errorf("sample %s: %w", t.name, err)
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", t.pid))
		return soakSample{AtSeconds: time.Since(start).Seconds(), RSSKiB: ps.rssKiB, Goroutines: ps.goroutines,
			FDs: len(fds), Connected: s.connected.Load()}, nil
	}
	// rest quiets the browsers, waits, and samples the target restSamples
	// times a second apart.
	rest := func() (soakSample, error) {
		s.hold.close()
		defer s.hold.open()
		logf("soak: resting %s", cfg.rest)
		sleep(sctx, cfg.rest)
		var ss []soakSample
		for range restSamples {
			sm, err := sample()
			if err != nil {
				return soakSample{}, err
			}
			ss = append(ss, sm)
			sleep(sctx, time.Second)
		}
		m := medianSample(ss)
		logf("soak %6.0fs at rest: RSS %d KiB, %d goroutines, %d fds, %d browsers connected",
			m.AtSeconds, m.RSSKiB, m.Goroutines, m.FDs, m.Connected)
		return m, nil
	}
	tick := time.NewTicker(cfg.every)
	refRest := time.NewTimer(cfg.reference)
	endRest := time.NewTimer(cfg.duration - cfg.rest - restSamples*time.Second - time.Second)
	var err error
	for done := false; !done && err == nil; {
		var sm soakSample
		select {
		case <-sctx.Done():
			done = true
			continue
		case <-refRest.C:
			res.Reference, err = rest()
			continue
		case <-endRest.C:
			res.End, err = rest()
			continue
		case <-tick.C:
		}
		if sm, err = sample(); err != nil {
			continue
		}
		res.Samples = append(res.Samples, sm)
		logf("soak %6.0fs: RSS %d KiB, %d goroutines, %d fds, %d browsers connected; joined %d, failed %d, left %d, vanished %d, misbehaved %d; %d segments verified, %d stalls, %d bad",
			sm.AtSeconds, sm.RSSKiB, sm.Goroutines, sm.FDs, sm.Connected, s.joined.Load(), s.joinFailed.Load(),
			s.left.Load(), s.vanished.Load(), s.misbehaved.Load(), s.st.segments.Load(), s.st.stalls.Load(), s.st.bad.Load())
	}
	tick.Stop()
	refRest.Stop()
	endRest.Stop()
	cancel()
	wg.Wait()
	if err != nil {
		return res, err
	}
	if t.proc.exited() {
		return res, fmt.Errorf("%s exited during the soak", t.name)
	}
	res.Joined, res.JoinFailed, res.Left = s.joined.Load(), s.joinFailed.Load(), s.left.Load()
	res.Vanished, res.Misbehaved = s.vanished.Load(), s.misbehaved.Load()
	res.Segments, res.Bytes, res.Stalls, res.Bad = s.st.segments.Load(), s.st.bytes.Load(), s.st.stalls.Load(), s.st.bad.Load()
	res.RSSRatio = growth(float64(res.End.RSSKiB), float64(res.Reference.RSSKiB))
	res.GoroutineRatio = growth(float64(res.End.Goroutines), float64(res.Reference.Goroutines))
	res.FDRatio = growth(float64(res.End.FDs), float64(res.Reference.FDs))
	res.Pass = res.Reference.AtSeconds > 0 && res.End.AtSeconds > res.Reference.AtSeconds && res.RSSRatio <= 1+cfg.tolerance &&
		res.GoroutineRatio <= 1+cfg.tolerance && res.FDRatio <= 1+cfg.tolerance &&
		res.Bad == 0 && res.Segments > 0
	return res, nil
}

func growth(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// restSamples is the number of samples a rest takes; their median is the
// verdict's sample.
const restSamples = 5

// gate holds browsers while it is closed.
type gate struct {
	mu     sync.Mutex
	opened chan struct{} // closed while the gate is open
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened == nil {
		g.opened = make(chan struct{})
	}
	select {
	case <-g.opened:
	default:
		close(g.opened)
	}
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.opened:
		g.opened = make(chan struct{})
	default:
	}
}

// wait returns once the gate is open or ctx is done.
func (g *gate) wait(ctx context.Context) {
	g.mu.Lock()
	ch := g.opened
	g.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

func medianSample(ss []soakSample) soakSample {
	med := func(f func(soakSample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return soakSample{
		AtSeconds:  med(func(s soakSample) float64 { return s.AtSeconds }),
		RSSKiB:     int64(med(func(s soakSample) float64 { return float64(s.RSSKiB) })),
		Goroutines: int(med(func(s soakSample) float64 { return float64(s.Goroutines) })),
		FDs:        int(med(func(s soakSample) float64 { return float64(s.FDs) })),
		Connected:  int64(med(func(s soakSample) float64 { return float64(s.Connected) })),
	}
}

// slot keeps one browser of the population alive for the soak: it joins,
// lives for a random while (pulling, or misbehaving), goes away (half close
// their connection, three in ten vanish without a word, the rest misbehave
// and then close) and is replaced by a new browser.
func (s *soaker) slot(ctx context.Context, i int) {
	for ctx.Err() == nil {
		s.hold.wait(ctx)
		kind := rand.IntN(10)
		vanish, misbehave := kind >= 5 && kind < 8, kind >= 8
		api := s.apis[i%len(s.apis)]
		var silence io.Closer
		if vanish {
			// Its own socket, so that closing it silences this browser alone.
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				s.joinFailed.Add(1)
				sleep(ctx, time.Second)
				continue
			}
			api, silence = muxAPI(conn)
		}
		b := newBrowser(s.env, api, s.swarms[rand.IntN(len(s.swarms))])
		b.hold = s.hold.wait
		if _, _, err := b.connect(ctx); err != nil {
			if ctx.Err() == nil {
				s.joinFailed.Add(1)
			}
			b.close()
			if silence != nil {
				_ = silence.Close()
			}
			continue
		}
		s.joined.Add(1)
		s.connected.Add(1)
		life := time.Duration((0.5 + rand.Float64()) * float64(s.cfg.lifetime))
		lctx, cancel := context.WithTimeout(ctx, life)
		if misbehave {
			s.misbehaved.Add(1)
			b.misbehave(lctx, s.org.spec.segments)
		} else {
			b.pull(lctx, &s.st, s.org.spec.segments, 0)
		}
		cancel()
		s.hold.wait(ctx) // a resting browser stays, idle
		s.connected.Add(-1)
		if vanish {
			// Socket first: the close that follows cannot reach the seed,
			// which must notice the silence on its own.
			_ = silence.Close()
			s.vanished.Add(1)
		} else {
			s.left.Add(1)
		}
		b.close()
	}
}

// misbehave asks for segments that do not exist and abandons downloads
// after their first chunk, until ctx ends.
func (b *browser) misbehave(ctx context.Context, segments int) {
	for ctx.Err() == nil {
		b.hold(ctx)
		req := int64(rand.IntN(1000))
		unknown := int64(segments + 1000 + rand.IntN(1<<20))
		if b.conn.send(wire.Command{Type: wire.SegmentRequest, SegmentID: unknown, RequestID: req}) != nil {
			return
		}
		if b.conn.await(func(c *wire.Command, _ []byte) bool {
			return c != nil && c.Type == wire.SegmentAbsent && c.SegmentID == unknown
		}) != nil {
			return
		}
		id := int64(rand.IntN(segments))
		req++
		if b.conn.send(wire.Command{Type: wire.SegmentRequest, SegmentID: id, RequestID: req}) != nil {
			return
		}
		if b.conn.await(func(c *wire.Command, data []byte) bool { return c == nil && len(data) > 0 }) != nil {
			return
		}
		if b.conn.send(wire.Command{Type: wire.CancelSegmentRequest, SegmentID: id, RequestID: req}) != nil {
			return
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// await reads until done says so; a stall or a closed channel ends it.
func (c *browserConn) await(done func(*wire.Command, []byte) bool) error {
	for {
		cmd, data, err := c.next()
		if err != nil {
			return err
		}
		if done(cmd, data) {
			return nil
		}
	}
}

// printSoak prints the verdict lines and writes the JSON report.
func printSoak(w io.Writer, r soakResult, cfg soakConfig, jsonPath string) error {
	fmt.Fprintf(w, "soak: %d browsers for %s: joined %d (%d joins failed), left %d, vanished %d, misbehaved %d; %d segments verified (%.1f GB), %d stalls, %d verification failures\n",
		r.Population, cfg.duration, r.Joined, r.JoinFailed, r.Left, r.Vanished, r.Misbehaved, r.Segments, float64(r.Bytes)/1e9, r.Stalls, r.Bad)
	fmt.Fprintf(w, "soak: at %.0f s: RSS %d KiB, %d goroutines, %d fds, %d browsers; at %.0f s: RSS %d KiB, %d goroutines, %d fds, %d browsers\n",
		r.Reference.AtSeconds, r.Reference.RSSKiB, r.Reference.Goroutines, r.Reference.FDs, r.Reference.Connected,
		r.End.AtSeconds, r.End.RSSKiB, r.End.Goroutines, r.End.FDs, r.End.Connected)
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "soak: end ÷ reference: RSS %.3f, goroutines %.3f, fds %.3f (tolerance %.0f %%): %s\n",
		r.RSSRatio, r.GoroutineRatio, r.FDRatio, cfg.tolerance*100, verdict)
	if jsonPath == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(jsonPath, append(b, '\n'), 0o644)
}
