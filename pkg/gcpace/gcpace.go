// Package gcpace keeps the Go garbage collector's headroom proportional to
// the memory that churns, not to a large, long-lived cache.
//
// The collector lets the heap grow by GOGC percent of the live heap before
// the next cycle. In a seed most of the live heap is the segment cache:
// large, pointer-free and bounded by its own budget. Under GOGC=100 a
// 1 GiB cache alone lets another 1 GiB of garbage pile up between cycles,
// so the process's memory is twice what its configured limits say, and
// every connected peer appears to cost its own state plus a share of that
// slack. Run sets the GC percent after every cycle so that the headroom
// is a fraction of the live heap outside the cache: the cache is held once,
// everything else is paced as GOGC would pace it alone. Marking the cache
// costs little, its objects hold no pointers to scan, so the extra cycles
// stay cheap.
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
	// Interval is how often Run looks for a finished cycle.
	Interval time.Duration
	// Set receives each GC percent chosen (for a metric); it may be nil.
	Set func(percent int)
}

// DefaultConfig paces the heap outside the cache like GOGC=100 with at
// least 8 MiB of headroom.
func DefaultConfig(pinned func() int64) Config {
	return Config{Pinned: pinned, Headroom: 1, MinHeadroom: 8 << 20, Interval: 250 * time.Millisecond}
}

// Percent is the GC percent that allows headroom × (live − pinned) bytes
// of garbage, at least minHeadroom, on a live heap of live bytes. It is at
// least 1 and at most headroom × 100: pacing never lets more garbage pile up
// than GOGC=headroom×100 would.
func Percent(live, pinned int64, headroom float64, minHeadroom int64) int {
	ceiling := max(1, int64(math.Ceil(headroom*100)))
	if live <= 0 {
		return int(ceiling)
	}
	pinned = max(0, min(pinned, live))
	slack := max(int64(headroom*float64(live-pinned)), minHeadroom)
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
// found. The GC percent is process-wide: run one per process.
func Run(ctx context.Context, cfg Config) {
	if cfg.Pinned == nil {
		return
	}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
	var cycles uint64
	last := -1
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		metrics.Read(samples)
		if c := samples[0].Value.Uint64(); c != cycles || last < 0 {
			cycles = c
			p := Percent(int64(samples[1].Value.Uint64()), cfg.Pinned(), cfg.Headroom, cfg.MinHeadroom)
			if p != last {
				debug.SetGCPercent(p)
				last = p
				if cfg.Set != nil {
					cfg.Set(p)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
