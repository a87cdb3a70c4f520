// Package gcpace keeps the Go garbage collector's headroom proportional to
// the memory that churns, not to a large, long-lived cache, and its cycles
// at a bounded rate.
//
// The collector lets the heap grow by GOGC percent of the live heap before
// the next cycle. In a seed most of the live heap is the segment cache:
// large, pointer-free and bounded by its own budget. Under GOGC=100 a
// 1 GiB cache alone lets another 1 GiB of garbage pile up between cycles,
// so the process's memory is twice what its configured limits say, and
// every connected peer appears to cost its own state plus a share of that
// slack. Run sets the GC percent so that the headroom is a fraction of the
// live heap outside the cache: the cache is held once, everything else is
// paced as GOGC would pace it alone.
//
// That proportion alone is wrong at both ends, so the allocation rate
// bounds it too:
//   - Idle, a seed holding thousands of browsers allocates little, yet it
//     would keep a heap's worth of garbage resident for minutes between
//     cycles. The headroom need not exceed what it allocates in Window.
//   - Serving, pion allocates several bytes for every byte sent, and a cycle
//     costs about the same whatever the headroom: most of it is scanning
//     thousands of goroutine stacks and per-connection state. A headroom
//     proportional to a small heap then means many cycles a second. The
//     headroom is at least what is allocated in MinCycle, up to what GOGC
//     would allow on the whole heap, cache included: never more garbage than
//     the runtime's own pacing.
package gcpace

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"time"
)

// Config tunes Run.
type Config struct {
	// Pinned reports the live bytes to leave out of the headroom (the
	// segment cache). It is called from Run's goroutine.
	Pinned func() int64
	// Headroom is the garbage allowed between cycles, as a fraction of the
	// live heap outside Pinned: 1 paces that heap as GOGC=100 would.
	Headroom float64
	// MinHeadroom is the least garbage allowed between cycles, so a small
	// heap is not collected back to back.
	MinHeadroom int64
	// Window bounds the headroom to the bytes allocated in this long at the
	// recent allocation rate (but never below MinHeadroom): a slowly
	// allocating process is collected about once per Window instead of
	// holding garbage in proportion to its heap. 0 disables the bound.
	Window time.Duration
	// MinCycle raises the headroom to the bytes allocated in this long at
	// the recent rate, up to Headroom × the whole live heap: a busy process
	// is collected at most about once per MinCycle while GOGC's own pacing
	// allows it. 0 disables the bound.
	MinCycle time.Duration
	// Interval is how often Run looks for a finished cycle and measures
	// the allocation rate.
	Interval time.Duration
	// Set receives each GC percent chosen (for a metric); it may be nil.
	Set func(percent int)
}

// DefaultConfig paces the heap outside the cache like GOGC=100 with at
// least 8 MiB of headroom, no more than 10 s of allocations, and no less
// than half a second's.
func DefaultConfig(pinned func() int64) Config {
	return Config{Pinned: pinned, Headroom: 1, MinHeadroom: 8 << 20, Window: 10 * time.Second,
		MinCycle: 500 * time.Millisecond, Interval: 250 * time.Millisecond}
}

// Percent is the GC percent for a live heap of live bytes, pinned of them
// held out, while the process allocates rate bytes a second. The garbage
// allowed is Headroom × (live − pinned), raised to rate × MinCycle and
// lowered to rate × Window (each when set), and at least MinHeadroom. The
// result is at least 1 and at most Headroom × 100: pacing never lets more
// garbage pile up than GOGC=Headroom×100 would.
func (c Config) Percent(live, pinned int64, rate float64) int {
	ceiling := max(1, int64(math.Ceil(c.Headroom*100)))
	if live <= 0 {
		return int(ceiling)
	}
	pinned = max(0, min(pinned, live))
	slack := int64(c.Headroom * float64(live-pinned))
	if c.MinCycle > 0 {
		slack = max(slack, int64(rate*c.MinCycle.Seconds()))
	}
	if c.Window > 0 {
		slack = min(slack, int64(rate*c.Window.Seconds()))
	}
	slack = max(slack, c.MinHeadroom)
	p := (slack*100 + live - 1) / live
	return int(max(1, min(p, ceiling)))
}

// FromGOGC turns the GOGC environment variable's value into a headroom:
// unset (or unparsable, as the runtime reads it), the heap outside the cache
// is paced as GOGC=100 would pace it; a positive number sets that headroom
// instead (GOGC=50 allows half as much garbage, for less memory and more GC
// work). "off", 0 or a negative value leave the collector to the runtime:
// FromGOGC then returns 0, and nothing should be paced.
func FromGOGC(v string) float64 {
	if v == "" {
		return 1
	}
	if v == "off" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 1
	}
	if n <= 0 {
		return 0
	}
	return float64(n) / 100
}

// Run paces the collector until ctx ends, then restores the GC percent it
// found. Every Interval it recomputes the GC percent from the live heap of
// the last cycle, the pinned bytes and the recent allocation rate. The GC
// percent is process-wide: run one per process.
func Run(ctx context.Context, cfg Config) {
	if cfg.Pinned == nil {
		return
	}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(samples)
	allocs, at := samples[1].Value.Uint64(), time.Now()
	var rate float64 // bytes per second: the recent peak, decaying
	// A rise is taken at once, so that a process turning busy is not
	// collected back to back; a fall halves the rate about every 1.6 s (0.9
	// per 250 ms interval), so that a lull between bursts keeps the headroom.
	decay := math.Pow(0.9, float64(cfg.Interval)/float64(250*time.Millisecond))
	last := -1
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		metrics.Read(samples)
		now := time.Now()
		if dt := now.Sub(at).Seconds(); dt > 0 {
			a := samples[1].Value.Uint64()
			rate = max(float64(a-allocs)/dt, rate*decay)
			allocs, at = a, now
		}
		p := cfg.Percent(int64(samples[0].Value.Uint64()), cfg.Pinned(), rate)
		if p != last {
			debug.SetGCPercent(p)
			last = p
			if cfg.Set != nil {
				cfg.Set(p)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
