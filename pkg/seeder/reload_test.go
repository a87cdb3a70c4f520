package seeder

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
	"github.com/superpeer/superpeer/pkg/wire"
)

// TestReload: a reload adds a stream and removes another while a browser
// of a third downloads; that browser's connection is not disturbed. A bad
// file keeps the running configuration, says why with its line, and is
// counted; keys that cannot change live are named.
func TestReload(t *testing.T) {
	h := newHarness(t, nil) // stream "test": testMaster
	other := h.origin.AddMedia("/other/index.m3u8", playlisttest.MediaOptions{Segments: 3, SegmentSize: 10_000})
	third := h.origin.AddMedia("/third/index.m3u8", playlisttest.MediaOptions{Segments: 3, SegmentSize: 10_000})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg := h.seeder.cfg
	cfg.Streams = append(cfg.Streams, StreamConfig{ID: "other", URL: other.URL()})
	_, err := h.seeder.Reload(cfg)
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "the added stream", h.seeder.Ready)
	require.Len(t, h.seeder.Status().Streams, 2)

	b := newTestBrowser(t, h.tracker.URL, h.infoHash(wire.Gen23), true)
	b.run(ctx)
	c := b.conn(ctx)
	waitAnnouncement(t, c, []int64{0, 1, 2, 3, 4, 5})

	// Remove "other", add "third", change nothing of "test".
	cfg.Streams = []StreamConfig{cfg.Streams[0], {ID: "third", URL: third.URL()}}
	cfg.Peers.UploadRate = 1 << 20
	needRestart, err := h.seeder.Reload(cfg)
	require.NoError(t, err)
	require.Equal(t, []string{"peers"}, needRestart)
	waitFor(t, 10*time.Second, "the third stream", h.seeder.Ready)
	var ids []string
	for _, st := range h.seeder.Status().Streams {
		ids = append(ids, st.ID)
	}
	require.Equal(t, []string{"test", "third"}, ids)
	require.Zero(t, metricValue(t, h.reg, "superpeer_stream_ready", "other"), "the removed stream's series are gone")

	got, err := c.download(4, 1, 0)
	require.NoError(t, err, "the browser of an untouched stream keeps its connection")
	require.Equal(t, h.v0.SegmentData(4), got)
	require.Equal(t, 1.0, metricValue(t, h.reg, "superpeer_peer_connections_total", "test", "offer", "connected")+
		metricValue(t, h.reg, "superpeer_peer_connections_total", "test", "answer", "connected"), "one connection, never re-made")

	// A bad file keeps what runs.
	path := filepath.Join(t.TempDir(), "superpeer.yaml")
	require.NoError(t, os.WriteFile(path, []byte("streams:\n  - id: x\n    url: ftp://nope/\n"), 0o600))
	err = h.seeder.ReloadFile(path)
	require.ErrorContains(t, err, "superpeer.yaml:3: streams[0].url")
	require.Len(t, h.seeder.Status().Streams, 2)
	require.Equal(t, 0.0, metricValue(t, h.reg, "superpeer_config_last_reload_successful"))
	require.Equal(t, 1.0, metricValue(t, h.reg, "superpeer_config_reloads_total", "failure"))
	require.Equal(t, 2.0, metricValue(t, h.reg, "superpeer_config_reloads_total", "success"))
}

// TestWatchConfig: a changed file and a reload signal both apply.
func TestWatchConfig(t *testing.T) {
	h := newHarness(t, nil)
	extra := h.origin.AddMedia("/extra/index.m3u8", playlisttest.MediaOptions{Segments: 2, SegmentSize: 1000})
	path := filepath.Join(t.TempDir(), "superpeer.yaml")
	write := func(streams string) {
		y := "trackers: [\"" + h.tracker.URL + "\"]\nwebrtc: {ice_servers: [], include_loopback: true, interfaces: [lo], connect_timeout: 10s}\n" +
			"cache: {max_bytes: 64MiB}\nstreams:\n" + streams
		require.NoError(t, os.WriteFile(path, []byte(y), 0o600))
	}
	base := "  - {id: test, url: \"" + h.origin.URL + "/master.m3u8\", generations: [\"2.2\", \"2.3\"]}\n"
	write(base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { defer close(done); h.seeder.WatchConfig(ctx, path, 20*time.Millisecond, hup) }()
	defer func() { cancel(); <-done }()
	time.Sleep(100 * time.Millisecond) // the watcher has read the file as it was

	write(base + "  - {id: extra, url: \"" + extra.URL() + "\"}\n")
	waitFor(t, 5*time.Second, "the file change to apply", func() bool { return len(h.seeder.Status().Streams) == 2 })
	// The watcher may see one write twice (truncated, then written: two
	// modification times), a harmless second reload. Let it settle before
	// counting what the signal adds.
	time.Sleep(200 * time.Millisecond)
	before := metricValue(t, h.reg, "superpeer_config_reloads_total", "success")
	require.GreaterOrEqual(t, before, 1.0)
	hup <- struct{}{}
	waitFor(t, 5*time.Second, "the signal to reload", func() bool {
		return metricValue(t, h.reg, "superpeer_config_reloads_total", "success") == before+1
	})
}
