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
	const s = time.Second
	cases := []struct {
		name         string
		cfg          Config
		live, pinned int64
		rate         float64 // bytes allocated per second
		want         int
	}{
		{"no cache is GOGC", Config{Headroom: 1}, 100 * mib, 0, 0, 100},
		{"cache held once", Config{Headroom: 1}, 200 * mib, 150 * mib, 0, 25},
		{"half headroom", Config{Headroom: 0.5}, 200 * mib, 150 * mib, 0, 13},
		{"minimum headroom", Config{Headroom: 1, MinHeadroom: 8 * mib}, 1000 * mib, 999 * mib, 0, 1},
		{"minimum on a small heap stays under GOGC", Config{Headroom: 1, MinHeadroom: 8 * mib}, 4 * mib, 0, 0, 100},
		{"pinned above live", Config{Headroom: 1}, 10 * mib, 20 * mib, 0, 1},
		{"empty heap", Config{Headroom: 1}, 0, 0, 0, 100},
		{"GOGC=200", Config{Headroom: 2}, 100 * mib, 0, 0, 200},
		{"GOGC=200 with a cache", Config{Headroom: 2}, 100 * mib, 50 * mib, 0, 100},
		{"slow allocation bounds the headroom", Config{Headroom: 1, Window: 10 * s}, 200 * mib, 100 * mib, 1 * mib, 5},
		{"fast allocation leaves the headroom", Config{Headroom: 1, Window: 10 * s}, 200 * mib, 100 * mib, 50 * mib, 50},
		{"minimum headroom above the rate bound", Config{Headroom: 1, MinHeadroom: 8 * mib, Window: 10 * s}, 200 * mib, 100 * mib, 0.1, 4},
		{"busy below MinCycle keeps the headroom", Config{Headroom: 1, MinCycle: s / 2}, 200 * mib, 100 * mib, 100 * mib, 50},
		{"busy raises the headroom", Config{Headroom: 1, MinCycle: s / 2}, 200 * mib, 100 * mib, 300 * mib, 75},
		{"busy stops at GOGC on the whole heap", Config{Headroom: 1, MinCycle: s / 2}, 200 * mib, 100 * mib, 1000 * mib, 100},
		{"both bounds, busy", Config{Headroom: 1, Window: 10 * s, MinCycle: s / 2}, 200 * mib, 100 * mib, 300 * mib, 75},
		{"both bounds, idle", Config{Headroom: 1, MinHeadroom: 8 * mib, Window: 10 * s, MinCycle: s / 2}, 200 * mib, 100 * mib, 1 * mib, 5},
	}
	for _, c := range cases {
		if got := c.cfg.Percent(c.live, c.pinned, c.rate); got != c.want {
			t.Errorf("%s: Percent(%d, %d, %v) = %d, want %d", c.name, c.live, c.pinned, c.rate, got, c.want)
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
	cfg := DefaultConfig(func() int64 { return int64(len(cache)) })
	chosen, stop := startRun(cfg)
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
	stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent after Run = %d, want the 100 it found", got)
	}
	runtime.KeepAlive(cache)
}

// TestRunBoundsHeadroomByAllocationRate holds a pointer-rich heap that
// nothing pins and allocates almost nothing: with a Window the headroom
// shrinks to the minimum, a small percent; without one it stays GOGC's.
func TestRunBoundsHeadroomByAllocationRate(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	live := make([]*[64]byte, 1<<20) // ~72 MiB of small objects and pointers
	for i := range live {
		live[i] = new([64]byte)
	}
	runtime.GC()
	for _, c := range []struct {
		window   time.Duration
		min, max int
	}{
		{10 * time.Second, 1, 30}, // 8 MiB of ~80 MiB live: ~10 %
		{0, 100, 100},
	} {
		cfg := DefaultConfig(func() int64 { return 0 })
		cfg.Window = c.window
		chosen, stop := startRun(cfg)
		time.Sleep(300 * time.Millisecond) // the rate settles on the idle heap
		stop()
		var got int
		for len(chosen) > 0 {
			got = <-chosen
		}
		if got < c.min || got > c.max {
			t.Errorf("Window %v: GC percent %d, want %d–%d", c.window, got, c.min, c.max)
		}
	}
	runtime.KeepAlive(live)
}

// startRun runs the pacer with cfg every 10 ms and returns the GC percents
// it sets, as they are set (a full channel drops the newest), and a stop
// function that returns once Run has.
func startRun(cfg Config) (<-chan int, func()) {
	chosen := make(chan int, 256)
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
	return chosen, func() { cancel(); <-done }
}
