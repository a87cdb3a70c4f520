package seeder

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
	"github.com/superpeer/superpeer/pkg/tracker/trackertest"
	"github.com/superpeer/superpeer/pkg/wire"
)

// TestVODLargerThanCache: a VOD of 3 MB against a 1 MiB cache keeps what
// fits and fetches nothing it cannot keep: no segment is downloaded over and
// over (before: 23.7 MB fetched for a 6.6 MB stream in 45 s), and the cache,
// downloads in flight included, never goes over its limit.
func TestVODLargerThanCache(t *testing.T) {
	if testing.Short() {
		t.Skip("watches a seeder for a few seconds")
	}
	h := newHarnessWith(t, playlisttest.MediaOptions{Segments: 20, SegmentSize: 150_000}, func(c *Config) {
		c.Cache.MaxBytes = 1 << 20
	})
	peak := 0.0
	for range 140 { // 7 s: past the 5 s retry of a failed segment
		peak = max(peak, testutil.ToFloat64(h.seeder.metrics.cacheBytes))
		time.Sleep(50 * time.Millisecond)
	}
	require.LessOrEqual(t, peak, float64(1<<20), "cache bytes, downloads in flight included")
	requests := 0
	for msn := range 20 {
		n := h.origin.Requests(fmt.Sprintf("/v0/seg%d.ts", msn))
		require.LessOrEqual(t, n, 1, "segment %d fetched again and again", msn)
		requests += n
	}
	held := h.seeder.Status().Streams[0].Variants[0].Loaded
	require.Positive(t, held)
	t.Logf("measured: 20 x 150 kB VOD, 1 MiB cache: %d segments held, %d segment requests, peak cache %.0f B", held, requests, peak)
	require.Positive(t, metricValue(t, h.reg, "superpeer_cache_rejected_total", "test"))
}

// TestLiveDVRLongerThanCache: a live playlist whose window does not fit the
// cache keeps seeding its edge (before: the newest announced id stayed at 9
// while the edge reached 25), giving up its oldest segments for it.
func TestLiveDVRLongerThanCache(t *testing.T) {
	if testing.Short() {
		t.Skip("follows a live playlist for a few seconds")
	}
	h := &harness{origin: playlisttest.NewOrigin(), tracker: trackertest.NewServer(t, trackertest.Options{Relay: true, Interval: 1})}
	t.Cleanup(h.origin.Close)
	live := h.origin.AddMedia("/live/index.m3u8", playlisttest.MediaOptions{Live: true, Segments: 12, Duration: 1, SegmentSize: 200_000})
	cfg := testConfig(h.tracker.URL, live.URL())
	cfg.Cache.MaxBytes = 1 << 20 // five segments of a twelve-segment window
	cfg.Streams[0].Generations = []wire.Generation{wire.Gen23}
	startSeeder(t, h, cfg)
	waitFor(t, 10*time.Second, "readiness", h.seeder.Ready)

	b := newTestBrowser(t, h.tracker.URL, wire.Gen23.InfoHash(wire.StreamSwarmID23(live.URL(), wire.Main, wire.StreamProps{})), true)
	ctx := t.Context()
	b.run(ctx)
	c := b.conn(ctx)
	watchdog := time.AfterFunc(30*time.Second, func() { _ = c.raw.Close() }) // no hang if the edge never comes
	defer watchdog.Stop()
	for range 4 {
		live.Advance()
		_, edge := live.Window()
		var last []int64
		deadline := time.Now().Add(5 * time.Second)
		for {
			cmd, err := c.nextCommand()
			require.NoError(t, err)
			if cmd.Type != wire.SegmentsAnnouncement {
				continue
			}
			last = cmd.Loaded
			if len(last) > 0 && last[len(last)-1] == edge {
				break
			}
			require.True(t, time.Now().Before(deadline), "edge %d never announced; last %v", edge, last)
		}
		require.LessOrEqual(t, len(last), 5, "held within the cache")
		got, err := c.download(edge, edge, 0)
		require.NoError(t, err)
		require.Equal(t, live.SegmentData(edge), got)
	}
	require.LessOrEqual(t, testutil.ToFloat64(h.seeder.metrics.cacheBytes), float64(1<<20))
}
