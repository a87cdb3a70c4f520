package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

func TestMedianSample(t *testing.T) {
	var ss []soakSample
	for i := range 5 {
		ss = append(ss, soakSample{AtSeconds: float64(30 * (i + 1)), RSSKiB: int64(1000 + i), Goroutines: 100 + i%3*50, FDs: 20})
	}
	m := medianSample(ss)
	require.Equal(t, 90.0, m.AtSeconds)
	require.Equal(t, int64(1002), m.RSSKiB)
	require.Equal(t, 150, m.Goroutines, "each field its own median: of 100, 150, 200, 100, 150")
	require.Equal(t, 20, m.FDs)
}

func TestGate(t *testing.T) {
	var g gate
	g.open()
	g.wait(context.Background()) // open: returns at once
	g.close()
	g.close()
	released := make(chan struct{})
	go func() {
		g.wait(context.Background())
		close(released)
	}()
	select {
	case <-released:
		t.Fatal("a closed gate let a browser through")
	case <-time.After(50 * time.Millisecond):
	}
	g.open()
	g.open()
	<-released
	ctx, cancel := context.WithCancel(context.Background())
	g.close()
	cancel()
	g.wait(ctx) // a done context ends the wait
}

// TestSoakShort runs the churn soak for 20 s against a real superpeer (its
// embedded tracker, real pion browsers on loopback): browsers join, pull
// and verify segments, misbehave, leave and vanish, and the report counts
// each. Flatness over an hour is for the real command (docs/performance.md).
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds superpeer and runs browsers for 20 s")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "superpeer")
	out, err := exec.Command("go", "build", "-o", bin, "../superpeer").CombinedOutput()
	require.NoError(t, err, "%s", out)

	spec := mediaSpec{variants: 2, segments: 6, segSize: 64 << 10, duration: 4}
	org, err := newOrigin(spec)
	require.NoError(t, err)
	t.Cleanup(org.close)
	master, err := httpGet(org.masterURL())
	require.NoError(t, err)
	swarms, err := streamSwarms(org.masterURL(), master, []wire.Generation{wire.Gen22, wire.Gen23})
	require.NoError(t, err)
	apis, closers, err := browserAPIs(2, 0, 0)
	t.Cleanup(func() {
		for _, c := range closers {
			_ = c.Close()
		}
	})
	require.NoError(t, err)
	certs, err := newCertificates()
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tgt, err := startSuperpeer(ctx, targetOptions{superpeerBin: bin, workDir: work, trackerKind: "embedded",
		interval: 120 * time.Second, gomaxprocs: 2, maxPeers: 40, cacheBytes: spec.uniqueBytes(), originURL: org.masterURL()})
	require.NoError(t, err)
	t.Cleanup(tgt.stop)
	rc := runConfig{rate: 20, joinTimeout: 5 * time.Second, attempts: 5, certs: certs}
	cfg := soakConfig{duration: 30 * time.Second, reference: 5 * time.Second, rest: 2 * time.Second, every: 5 * time.Second,
		population: 10, lifetime: 3 * time.Second, tolerance: 10}
	r, err := runSoak(ctx, tgt, org, swarms, apis, rc, cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(r.Samples), 2)
	require.InDelta(t, 5+2+2, r.Reference.AtSeconds, 1.5, "the reference rest: 2 s quiet, then five samples")
	require.Greater(t, r.End.AtSeconds, 20.0, "the end rest")
	require.Positive(t, r.End.Goroutines)
	require.Greater(t, r.Joined, int64(10), "browsers replaced as they go")
	require.Positive(t, r.Vanished)
	require.Positive(t, r.Left)
	require.Positive(t, r.Misbehaved)
	require.Positive(t, r.Segments)
	require.Zero(t, r.Bad)
	require.Positive(t, r.Reference.Goroutines)
	require.True(t, r.Pass, "with a 1000 %% tolerance the verdict is decided by verification alone: %+v", r)
}
