package demo

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/superpeer/superpeer/pkg/seeder"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestLiveWindow(t *testing.T) {
	vod, err := fs.Sub(mediaFiles, "media")
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := NewLive(vod, 4, func() time.Time { return now })
	require.NoError(t, err)

	code, body := get(t, l, "/360p/index.m3u8")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "#EXT-X-MEDIA-SEQUENCE:0\n")
	require.Equal(t, 4, strings.Count(body, "#EXTINF:2.000,"))
	require.NotContains(t, body, "ENDLIST")

	// 12 segments in the VOD: 30 s later the window (msn 15..18) has wrapped once.
	now = now.Add(30 * time.Second)
	_, body = get(t, l, "/360p/index.m3u8")
	require.Contains(t, body, "#EXT-X-MEDIA-SEQUENCE:15\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n")
	require.Contains(t, body, "seg-18.ts")
	require.NotContains(t, body, "seg-19.ts")

	// Segment 14 has the bytes of VOD segment 2; 19 is not published yet.
	code, seg := get(t, l, "/360p/seg-14.ts")
	require.Equal(t, http.StatusOK, code)
	want, err := fs.ReadFile(vod, "360p/seg-02.ts")
	require.NoError(t, err)
	require.Equal(t, string(want), seg)
	code, _ = get(t, l, "/360p/seg-19.ts")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = get(t, l, "/720p/index.m3u8")
	require.Equal(t, http.StatusNotFound, code)
	code, master := get(t, l, "/master.m3u8")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, master, "360p/index.m3u8")
}

func TestLiveWrapDiscontinuity(t *testing.T) {
	vod, err := fs.Sub(mediaFiles, "media")
	require.NoError(t, err)
	now := time.Now()
	l, err := NewLive(vod, 4, func() time.Time { return now })
	require.NoError(t, err)
	now = now.Add(20 * time.Second) // published 14: window 10..13, wraps before msn 12
	_, body := get(t, l, "/180p/index.m3u8")
	require.Contains(t, body, "seg-11.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nseg-12.ts")
}

// TestDASHMedia checks the embedded DASH VOD: a static MPD with a
// $Number$ SegmentTemplate, every segment it lists embedded, and served
// with DASH content types.
func TestDASHMedia(t *testing.T) {
	dash, err := fs.Sub(mediaFiles, "media/dash")
	require.NoError(t, err)
	mpd, err := fs.ReadFile(dash, "manifest.mpd")
	require.NoError(t, err, "the DASH manifest is embedded (scripts/make-demo-media)")
	require.Contains(t, string(mpd), `type="static"`)
	require.Contains(t, string(mpd), `media="chunk-$RepresentationID$-$Number%03d$.m4s"`)
	for _, rep := range []string{"0", "1", "2"} { // 180p, 360p, audio
		require.Contains(t, string(mpd), `<Representation id="`+rep+`"`)
		_, err := fs.Stat(dash, "init-"+rep+".m4s")
		require.NoError(t, err, "init segment of representation %s", rep)
		chunks, err := fs.Glob(dash, "chunk-"+rep+"-*.m4s")
		require.NoError(t, err)
		// 60 s of 2 s segments; ffmpeg cuts the audio (1024-sample AAC frames) one short segment later.
		require.GreaterOrEqual(t, len(chunks), 30, "60 s of 2 s segments for representation %s", rep)
	}

	h := dashTypes(http.FileServerFS(dash))
	for path, ctype := range map[string]string{
		"/manifest.mpd":    "application/dash+xml",
		"/init-1.m4s":      "video/iso.segment",
		"/chunk-1-030.m4s": "video/iso.segment",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusOK, rec.Code, path)
		require.Equal(t, ctype, rec.Header().Get("Content-Type"), path)
	}
}

// TestStreamsListDASH: superpeer seeds the DASH VOD from the demo's own
// origin, in its own swarm.
func TestStreamsListDASH(t *testing.T) {
	var dash *seeder.StreamConfig
	for _, s := range streams("127.0.0.1:8080") {
		if s.ID == "demo-dash" {
			dash = &s
		}
	}
	require.NotNil(t, dash, "the demo seeds the DASH stream")
	require.Equal(t, "http://127.0.0.1:8080/media/dash/manifest.mpd", dash.URL)
	require.Equal(t, dashSwarmID, dash.SwarmID)
}

// TestRunServesEverything starts the demo and checks each part answers on
// the one listener: page, config, third-party script, media, tracker,
// superpeer's status and metrics. The page itself plays in
// test/interop's TestDemoPage.
func TestRunServesEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Addr: "127.0.0.1:0", Logger: zerolog.New(zerolog.NewTestWriter(t)), Registry: prometheus.NewRegistry(),
			Version: "test", GCHeadroom: 1, Listening: func(u string) { urls <- u }})
	}()
	base := strings.TrimSuffix(<-urls, "/")
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	fetch := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, page := fetch("/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "superpeer demo")
	code, cfg := fetch("/demo/config.json")
	require.Equal(t, http.StatusOK, code)
	var pc pageConfig
	require.NoError(t, json.Unmarshal([]byte(cfg), &pc))
	require.Equal(t, "ws://"+strings.TrimPrefix(base, "http://")+"/tracker", pc.Tracker)
	code, _ = fetch("/media/vod/360p/seg-00.ts")
	require.Equal(t, http.StatusOK, code)
	code, _ = fetch("/media/live/180p/index.m3u8")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "shaka", pc.Streams["dash"].Player)
	require.Equal(t, dashManifest, pc.Streams["dash"].URL)
	resp, err := client.Get(base + pc.Streams["dash"].URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/dash+xml", resp.Header.Get("Content-Type"))

	deadline := time.Now().Add(20 * time.Second)
	var st seeder.Status
	for {
		_, body := fetch("/status.json")
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		if st.Ready || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, st.Ready, "superpeer joined the demo swarms through the embedded tracker")
	require.Len(t, st.Streams, 3)
	for _, s := range st.Streams {
		t.Logf("stream %s: %d variants", s.ID, len(s.Variants))
		require.GreaterOrEqual(t, len(s.Variants), 2, s.ID)
	}
	require.Equal(t, liveSwarmID, st.Streams[0].SwarmBase)
	require.Equal(t, "demo-dash", st.Streams[2].ID)
	require.Equal(t, dashSwarmID, st.Streams[2].SwarmBase)
	code, metrics := fetch("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, metrics, `superpeer_stream_ready{stream="demo-vod"} 1`)
	require.Contains(t, metrics, `superpeer_stream_ready{stream="demo-dash"} 1`)
	require.Contains(t, metrics, "superpeer_tracker_server_connections 1")
	require.Regexp(t, `(?m)^superpeer_gc_percent [1-9]`, metrics, "the demo paces the collector as production does")
	if _, err := fs.Stat(thirdpartyFiles, "thirdparty/hls.mjs"); err == nil {
		code, _ = fetch("/thirdparty/hls.mjs")
		require.Equal(t, http.StatusOK, code)
	} else {
		t.Log("third-party JavaScript not generated in this build (pkg/demo/gen.sh)")
	}
}
