package gcpace

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name              string
		live, pinned      int64
		headroom          float64
		minHeadroom, want int64
	}{
		{"no cache is GOGC", 100 * mib, 0, 1, 0, 100},
		{"cache held once", 200 * mib, 150 * mib, 1, 0, 25},
		{"half headroom", 200 * mib, 150 * mib, 0.5, 0, 13},
		{"minimum headroom", 1000 * mib, 999 * mib, 1, 8 * mib, 1},
		{"minimum on a small heap", 4 * mib, 0, 1, 8 * mib, 100},
		{"pinned above live", 10 * mib, 20 * mib, 1, 0, 1},
		{"empty heap", 0, 0, 1, 0, 100},
		{"GOGC=200", 100 * mib, 0, 2, 0, 200},
		{"GOGC=200 with a cache", 100 * mib, 50 * mib, 2, 0, 100},
	}
	for _, c := range cases {
		if got := Percent(c.live, c.pinned, c.headroom, c.minHeadroom); int64(got) != c.want {
			t.Errorf("%s: Percent(%d, %d, %v, %d) = %d, want %d", c.name, c.live, c.pinned, c.headroom, c.minHeadroom, got, c.want)
		}
	}
}

func TestFromGOGC(t *testing.T) {
	for v, want := range map[string]float64{"": 1, "100": 1, "50": 0.5, "200": 2, "off": 0, "0": 0, "-1": 0, "junk": 1} {
		if got := FromGOGC(v); got != want {
			t.Errorf("FromGOGC(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestRunPacesAroundPinnedHeap holds a large pointer-free allocation as the
// cache and checks that Run lowers the GC percent after a cycle, and puts
// the previous one back when it stops.
func TestRunPacesAroundPinnedHeap(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	cache := make([]byte, 256<<20)
	for i := range cache {
		cache[i] = byte(i)
	}
	pinned := func() int64 { return int64(len(cache)) }
	chosen := make(chan int, 64)
	cfg := DefaultConfig(pinned)
	cfg.Interval = 10 * time.Millisecond
	cfg.Set = func(p int) {
		select {
		case chosen <- p:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, cfg) }()
	runtime.GC()
	deadline := time.After(10 * time.Second)
	for {
		var p int
		select {
		case p = <-chosen:
		case <-deadline:
			t.Fatal("no GC percent below 100 chosen within 10 s")
		}
		// The rest of the test binary's heap is a few MiB; the minimum
		// headroom (8 MiB) over ~260 MiB live is a few percent.
		if p < 10 {
			break
		}
		runtime.GC()
	}
	if got := debug.SetGCPercent(-1); got >= 10 {
		t.Errorf("GC percent while paced = %d, want < 10", got)
	}
	debug.SetGCPercent(5)
	cancel()
	<-done
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent after Run = %d, want the 100 it found", got)
	}
	runtime.KeepAlive(cache)
}
