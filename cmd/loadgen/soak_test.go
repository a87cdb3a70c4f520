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

func TestSoakVerdictSamples(t *testing.T) {
	var ss []soakSample
	for i := range 10 {
		ss = append(ss, soakSample{AtSeconds: float64(30 * (i + 1)), RSSKiB: int64(1000 + i), Goroutines: 100 + i%3*50, FDs: 20})
	}
	ref, end := soakVerdictSamples(ss, 120*time.Second)
	require.Equal(t, 120.0, ref.AtSeconds, "median of the samples at 60 to 180 s")
	require.Equal(t, int64(1003), ref.RSSKiB)
	require.Equal(t, 150, ref.Goroutines, "each field its own median: of 200, 100, 150, 200, 100")
	require.Equal(t, 240.0, end.AtSeconds, "median of the last five")
	require.Equal(t, int64(1007), end.RSSKiB)

	ref, end = soakVerdictSamples(ss[:2], time.Hour)
	require.Equal(t, 60.0, ref.AtSeconds, "fewer than three samples: the median of what there is")
	require.Equal(t, ref, end)
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
	apis, closers, err := browserAPIs(2)
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
	cfg := soakConfig{duration: 20 * time.Second, reference: 5 * time.Second, every: 5 * time.Second,
		population: 10, lifetime: 3 * time.Second, tolerance: 10}
	r, err := runSoak(ctx, tgt, org, swarms, apis, rc, cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(r.Samples), 4)
	require.Greater(t, r.Joined, int64(10), "browsers replaced as they go")
	require.Positive(t, r.Vanished)
	require.Positive(t, r.Left)
	require.Positive(t, r.Misbehaved)
	require.Positive(t, r.Segments)
	require.Zero(t, r.Bad)
	require.Positive(t, r.Reference.Goroutines)
	require.True(t, r.Pass, "with a 1000 %% tolerance the verdict is decided by verification alone: %+v", r)
}
