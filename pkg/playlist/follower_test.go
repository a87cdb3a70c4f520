package playlist

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
)

// fakeClock is a manual clock: timers fire only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), d: d, ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t.ch
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// waitTimer waits until exactly one timer is pending and returns its duration.
func (c *fakeClock) waitTimer(t *testing.T) time.Duration {
	t.Helper()
	var d time.Duration
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.timers) != 1 {
			return false
		}
		d = c.timers[0].d
		return true
	}, 5*time.Second, time.Millisecond)
	return d
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// fastClock fires every timer after 1 ms of real time and records the
// requested durations.
type fastClock struct {
	mu    sync.Mutex
	asked []time.Duration
}

func (c *fastClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.asked = append(c.asked, d)
	c.mu.Unlock()
	return time.After(time.Millisecond)
}

func (c *fastClock) durations() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.asked...)
}

// runFollower runs a Follower until the test ends and returns its events.
func runFollower(t *testing.T, cfg FollowerConfig) <-chan Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event)
	done := make(chan error, 1)
	f := NewFollower(cfg)
	go func() { done <- f.Run(ctx, events) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return events
}

func nextEvent(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return Event{}
	}
}

func noEvent(t *testing.T, events <-chan Event) {
	t.Helper()
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func segmentIDs(pl *MediaPlaylist) []int64 {
	ids := make([]int64, len(pl.Segments))
	for i, s := range pl.Segments {
		ids[i] = s.ID
	}
	return ids
}

func TestFollowerVOD(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	v1 := o.AddMedia("/v1/index.m3u8", MediaOptions{Segments: 6})
	v2 := o.AddMedia("/v2/index.m3u8", MediaOptions{Segments: 4, SegmentSize: 500, ByteRange: true})
	aud := o.AddMedia("/aud/en.m3u8", MediaOptions{Segments: 6, SegmentSize: 200})
	o.SetFile("/master.m3u8", []byte(`#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="English",LANGUAGE="en",CHANNELS="2",URI="aud/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="a"
v1/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2400000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="a",FRAME-RATE=25
/v2/index.m3u8
`))
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	clk := newFakeClock()
	events := runFollower(t, FollowerConfig{
		Stream: "vod", URL: o.URL + "/master.m3u8", Client: o.Client(), Logger: zerolog.Nop(),
		Metrics: metrics, Now: clk.Now, After: clk.After,
	})

	ev := nextEvent(t, events)
	require.Nil(t, ev.Playlist)
	require.Equal(t, -1, ev.Variant)
	m := ev.Manifest
	require.Equal(t, o.URL+"/master.m3u8", m.SwarmBase)
	require.Equal(t, "2400000", m.Variants[1].Attributes["BANDWIDTH"], "attributes as written")
	require.Equal(t, "avc1.64001e,mp4a.40.2", m.Variants[2].GroupCodecs)
	require.Equal(t, "English", m.Variants[2].Attributes["NAME"])
	bare := slices.Clone(m.Variants)
	for i := range bare {
		bare[i].Attributes, bare[i].GroupCodecs = nil, ""
	}
	require.Equal(t, []Variant{
		{URL: v1.URL(), Type: Main, Ordinal: 0, Rendition: Rendition{Bitrate: 800000, Codecs: "avc1.64001e", Width: 640, Height: 360, HasResolution: true}, StreamInf: 0},
		{URL: v2.URL(), Type: Main, Ordinal: 1, Rendition: Rendition{Bitrate: 2400000, Codecs: "avc1.64001f", Width: 1280, Height: 720, HasResolution: true, FrameRate: "25"}, StreamInf: 1},
		{URL: aud.URL(), Type: Secondary, Ordinal: 0, Rendition: Rendition{Codecs: "mp4a.40.2", Language: "en", Channels: "2", Name: "English"}, StreamInf: -1},
	}, bare)

	got := map[int]*MediaPlaylist{}
	for range 3 {
		ev := nextEvent(t, events)
		require.Same(t, m, ev.Manifest)
		got[ev.Variant] = ev.Playlist
	}
	require.Equal(t, []int64{0, 1, 2, 3, 4, 5}, segmentIDs(got[0]))
	require.Equal(t, []int64{0, 1, 2, 3}, segmentIDs(got[1]))
	require.Equal(t, []int64{0, 1, 2, 3, 4, 5}, segmentIDs(got[2]))
	for i, s := range got[0].Segments {
		require.Equal(t, v1.SegmentURL(int64(i)), s.URL)
		require.Nil(t, s.Range)
		require.Equal(t, 4.0, s.Duration)
	}
	for i, s := range got[1].Segments {
		r := &ByteRange{Start: int64(i) * 500, End: int64(i)*500 + 499}
		require.Equal(t, r, s.Range)
		require.Equal(t, fmt.Sprintf("%s|%d-%d", v2.SegmentURL(int64(i)), r.Start, r.End), s.Key)
	}
	require.False(t, got[0].Live)

	// VOD playlists are loaded once and never polled again.
	noEvent(t, events)
	require.Equal(t, 0, clk.pending())
	for _, p := range []string{"/master.m3u8", "/v1/index.m3u8", "/v2/index.m3u8", "/aud/en.m3u8"} {
		require.Equal(t, 1, o.Requests(p), p)
	}
	require.Equal(t, 3.0, testutil.ToFloat64(metrics.reloads.WithLabelValues("vod")))
	require.Equal(t, 1.0, testutil.ToFloat64(metrics.requests.WithLabelValues("vod", "master", "2xx")))
	require.Equal(t, 3.0, testutil.ToFloat64(metrics.requests.WithLabelValues("vod", "playlist", "2xx")))

	// The bytes the Fetcher returns are the segment's, ranges included.
	fetch := NewFetcher(FetcherConfig{Stream: "vod", Client: o.Client(), Metrics: metrics})
	for i, s := range got[1].Segments {
		b, err := fetch.Fetch(context.Background(), s)
		require.NoError(t, err)
		require.Equal(t, v2.SegmentData(int64(i)), b)
	}
}

// MediaOptions is playlisttest.MediaOptions, shortened for the tests.
type MediaOptions = playlisttest.MediaOptions

func TestFollowerLive(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	live := o.AddMedia("/live/v.m3u8", MediaOptions{Live: true, Segments: 3, Duration: 6, MediaSequence: 100})
	o.SetFile("/live/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\nv.m3u8\n"))
	clk := newFakeClock()
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	events := runFollower(t, FollowerConfig{
		Stream: "live", URL: o.URL + "/live/master.m3u8", Client: o.Client(), Logger: zerolog.Nop(),
		Metrics: metrics, Now: clk.Now, After: clk.After,
	})
	require.Nil(t, nextEvent(t, events).Playlist)

	pl := nextEvent(t, events).Playlist
	require.True(t, pl.Live)
	require.Equal(t, 6*time.Second, pl.TargetDuration)
	require.Equal(t, []int64{100, 101, 102}, segmentIDs(pl))
	require.Equal(t, live.SegmentURL(100), pl.Segments[0].URL)

	// Reload after a target duration; the window moved: IDs stay MSNs, 100 leaves.
	require.Equal(t, 6*time.Second, clk.waitTimer(t))
	o.Advance()
	clk.Advance(6 * time.Second)
	pl = nextEvent(t, events).Playlist
	require.Equal(t, []int64{101, 102, 103}, segmentIDs(pl))
	require.Equal(t, live.SegmentURL(103), pl.Segments[2].URL)

	// Unchanged playlist: no event, next reload after half a target duration.
	require.Equal(t, 6*time.Second, clk.waitTimer(t))
	clk.Advance(6 * time.Second)
	require.Equal(t, 3*time.Second, clk.waitTimer(t))
	noEvent(t, events)
	require.Equal(t, 3, o.Requests("/live/v.m3u8"))

	o.Advance()
	clk.Advance(3 * time.Second)
	require.Equal(t, []int64{102, 103, 104}, segmentIDs(nextEvent(t, events).Playlist))

	// EXT-X-ENDLIST: the last snapshot is VOD (IDs become positions) and
	// polling stops.
	require.Equal(t, 6*time.Second, clk.waitTimer(t))
	live.End()
	clk.Advance(6 * time.Second)
	pl = nextEvent(t, events).Playlist
	require.False(t, pl.Live)
	require.Equal(t, []int64{0, 1, 2}, segmentIDs(pl))
	require.Equal(t, live.SegmentURL(102), pl.Segments[0].URL)
	noEvent(t, events)
	require.Equal(t, 0, clk.pending())
	require.Equal(t, 5, o.Requests("/live/v.m3u8"))
	require.Equal(t, 5.0, testutil.ToFloat64(metrics.reloads.WithLabelValues("live")))
}

func TestFollowerRedirects(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	o.Redirect("/master.m3u8", "/edge/master.m3u8?token=abc")
	o.SetFile("/edge/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\nv/index.m3u8\n"))
	o.Redirect("/edge/v/index.m3u8", "/cdn/v/index.m3u8?sig=1")
	media := o.AddMedia("/cdn/v/index.m3u8", MediaOptions{Segments: 2})
	clk := newFakeClock()
	events := runFollower(t, FollowerConfig{
		Stream: "r", URL: o.URL + "/master.m3u8", Client: o.Client(), Logger: zerolog.Nop(),
		Now: clk.Now, After: clk.After,
	})
	m := nextEvent(t, events).Manifest
	require.Equal(t, o.URL+"/edge/master.m3u8?token=abc", m.URL)
	require.Equal(t, o.URL+"/edge/master.m3u8", m.SwarmBase)
	require.Equal(t, o.URL+"/edge/v/index.m3u8", m.Variants[0].URL)

	pl := nextEvent(t, events).Playlist
	require.Equal(t, o.URL+"/cdn/v/index.m3u8?sig=1", pl.URL)
	require.Equal(t, media.SegmentURL(0), pl.Segments[0].URL)
	require.Equal(t, o.URL+"/cdn/v/seg1.ts", pl.Segments[1].URL)
}

func TestFollowerRetries(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	o.AddMedia("/good/index.m3u8", MediaOptions{Segments: 2})
	o.AddMedia("/flaky/index.m3u8", MediaOptions{Segments: 2})
	o.SetFile("/master.m3u8", []byte("#EXTM3U\n"+
		"#EXT-X-STREAM-INF:BANDWIDTH=1\ngood/index.m3u8\n"+
		"#EXT-X-STREAM-INF:BANDWIDTH=2\nflaky/index.m3u8\n"+
		"#EXT-X-STREAM-INF:BANDWIDTH=3\nmissing/index.m3u8\n"))
	o.Fail("/master.m3u8", http.StatusInternalServerError, 3)
	o.Fail("/flaky/index.m3u8", http.StatusServiceUnavailable, 2)

	var logs syncBuffer
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	clk := &fastClock{}
	events := runFollower(t, FollowerConfig{
		Stream: "s", URL: o.URL + "/master.m3u8", Client: o.Client(), Logger: zerolog.New(&logs),
		Metrics: metrics, After: clk.After,
	})
	m := nextEvent(t, events).Manifest
	require.Len(t, m.Variants, 3)
	// Capped exponential backoff with jitter: the n-th delay is in [d/2, d], d = 500ms·2^(n-1).
	asked := clk.durations() // the variants may have started failing too
	require.GreaterOrEqual(t, len(asked), 3)
	for i, d := range asked[:3] {
		hi := 500 * time.Millisecond << i
		require.GreaterOrEqual(t, d, hi/2, "delay %d", i)
		require.LessOrEqual(t, d, hi, "delay %d", i)
	}

	// The variant that keeps failing (404) does not hold back the others.
	got := map[int]bool{}
	for range 2 {
		ev := nextEvent(t, events)
		require.NotNil(t, ev.Playlist)
		got[ev.Variant] = true
	}
	require.Equal(t, map[int]bool{0: true, 1: true}, got)
	require.Equal(t, 3, o.Requests("/flaky/index.m3u8"))
	require.Eventually(t, func() bool { return o.Requests("/missing/index.m3u8") > 10 }, 5*time.Second, time.Millisecond)

	require.Equal(t, 3.0, testutil.ToFloat64(metrics.requests.WithLabelValues("s", "master", "5xx")))
	require.Equal(t, 1.0, testutil.ToFloat64(metrics.requests.WithLabelValues("s", "master", "2xx")))
	require.GreaterOrEqual(t, testutil.ToFloat64(metrics.errors.WithLabelValues("s", "fetch")), 15.0)
	require.GreaterOrEqual(t, testutil.ToFloat64(metrics.requests.WithLabelValues("s", "playlist", "4xx")), 10.0)
	// Warnings are sampled: a burst of 5 per minute for the whole follower.
	require.Equal(t, 5, strings.Count(logs.String(), `"level":"warn"`), logs.String())
	require.Contains(t, logs.String(), `"component":"playlist","stream":"s"`)
}

func TestFollowerTooLarge(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	o.AddMedia("/big/index.m3u8", MediaOptions{Segments: 50})
	o.AddMedia("/small/index.m3u8", MediaOptions{Segments: 1})
	o.SetFile("/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nbig/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nsmall/index.m3u8\n"))
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	events := runFollower(t, FollowerConfig{
		Stream: "t", URL: o.URL + "/master.m3u8", Client: o.Client(), Logger: zerolog.Nop(),
		Metrics: metrics, After: (&fastClock{}).After, MaxPlaylistBytes: 300,
	})
	require.Len(t, nextEvent(t, events).Manifest.Variants, 2)
	ev := nextEvent(t, events)
	require.Equal(t, 1, ev.Variant)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(metrics.errors.WithLabelValues("t", "too_large")) >= 3
	}, 5*time.Second, time.Millisecond)
	require.Zero(t, testutil.ToFloat64(metrics.errors.WithLabelValues("t", "parse")))
}

func TestFollowerGetLimits(t *testing.T) {
	// A chunked body has no Content-Length: the limit applies while reading.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		_, _ = w.Write(bytes.Repeat([]byte("#"), 1000))
	}))
	defer srv.Close()
	f := NewFollower(FollowerConfig{Client: srv.Client(), MaxPlaylistBytes: 999})
	_, _, reason, err := f.get(context.Background(), srv.URL, kindPlaylist)
	require.ErrorIs(t, err, ErrTooLarge)
	require.Equal(t, reasonTooLarge, reason)

	f = NewFollower(FollowerConfig{Client: srv.Client(), MaxPlaylistBytes: 1000})
	body, final, _, err := f.get(context.Background(), srv.URL, kindPlaylist)
	require.NoError(t, err)
	require.Len(t, body, 1000)
	require.Equal(t, srv.URL, final.String())
}

func TestFollowerBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y.m3u8", "/relative.m3u8", "http://%zz"} {
		err := NewFollower(FollowerConfig{URL: u}).Run(context.Background(), make(chan Event))
		require.Error(t, err, u)
	}
}

func TestFollowerStopsWhileSending(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	o.AddMedia("/v/index.m3u8", MediaOptions{})
	o.SetFile("/m.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- NewFollower(FollowerConfig{URL: o.URL + "/m.m3u8", Client: o.Client()}).Run(ctx, make(chan Event))
	}()
	require.Eventually(t, func() bool { return o.Requests("/m.m3u8") == 1 }, 5*time.Second, time.Millisecond)
	cancel() // nobody reads the events channel
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run blocked on a send after cancel")
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFollowerLiveOutage: while a live playlist's origin is down, it is
// asked again at least every target duration, not at the general backoff's
// growing delays, so the stream resumes within a segment of the origin's return.
func TestFollowerLiveOutage(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	o.AddMedia("/live/index.m3u8", MediaOptions{Live: true, Segments: 3, Duration: 2})
	clk := &fastClock{}
	events := runFollower(t, FollowerConfig{Stream: "s", URL: o.URL + "/live/index.m3u8", Client: o.Client(), Logger: zerolog.Nop(), After: clk.After})
	nextEvent(t, events) // manifest
	nextEvent(t, events) // first playlist
	o.Fail("/live/index.m3u8", http.StatusBadGateway, 12)
	require.Eventually(t, func() bool { return o.Requests("/live/index.m3u8") >= 14 }, 5*time.Second, time.Millisecond)
	for i, d := range clk.durations() {
		require.LessOrEqual(t, d, 2*time.Second, "delay %d", i)
	}
}
