package playlist

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
)

func newTestFetcher(o *playlisttest.Origin, retries int, maxBytes int64) (*Fetcher, *Metrics) {
	m := NewMetrics(prometheus.NewRegistry())
	return NewFetcher(FetcherConfig{
		Stream: "f", Client: o.Client(), Metrics: m, Retries: retries,
		MaxSegmentBytes: maxBytes, RetryDelay: time.Millisecond,
	}), m
}

func TestFetcher(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	whole := o.AddMedia("/w/index.m3u8", MediaOptions{Segments: 3, SegmentSize: 1000})
	ranged := o.AddMedia("/r/index.m3u8", MediaOptions{Segments: 3, SegmentSize: 700, ByteRange: true})
	full := o.AddMedia("/full/index.m3u8", MediaOptions{Segments: 3, SegmentSize: 300, ByteRange: true})
	o.IgnoreRange("/full/all.ts")
	seg := func(m *playlisttest.Media, msn int64, size int64, ranged bool) Segment {
		s := Segment{ID: msn, URL: m.SegmentURL(msn)}
		if ranged {
			s.Range = &ByteRange{Start: msn * size, End: msn*size + size - 1}
		}
		return s
	}

	for _, tc := range []struct {
		name     string
		seg      Segment
		data     []byte
		setup    func()
		retries  int
		maxBytes int64
		wantErr  error
		wantCode int // StatusError code
		requests int
	}{
		{name: "whole", seg: seg(whole, 1, 1000, false), data: whole.SegmentData(1), requests: 1},
		{name: "range_206", seg: seg(ranged, 2, 700, true), data: ranged.SegmentData(2), requests: 1},
		{name: "range_from_200", seg: seg(full, 1, 300, true), data: full.SegmentData(1), requests: 1},
		{
			name: "retry_500", seg: seg(whole, 0, 1000, false), data: whole.SegmentData(0), requests: 3,
			setup: func() { o.Fail("/w/seg0.ts", http.StatusInternalServerError, 2) },
		},
		{
			name: "retry_429", seg: seg(ranged, 0, 700, true), data: ranged.SegmentData(0), requests: 2,
			setup: func() { o.Fail("/r/all.ts", http.StatusTooManyRequests, 1) },
		},
		{
			name: "retry_truncated", seg: seg(whole, 2, 1000, false), data: whole.SegmentData(2), requests: 2,
			setup: func() { o.Truncate("/w/seg2.ts", 1) },
		},
		{
			name: "give_up_500", seg: seg(whole, 0, 1000, false), retries: 2, wantCode: 500, requests: 3,
			setup: func() { o.Fail("/w/seg0.ts", http.StatusInternalServerError, 5) },
		},
		{
			name: "give_up_truncated", seg: seg(whole, 1, 1000, false), retries: -1, wantErr: ErrTruncated, requests: 1,
			setup: func() { o.Truncate("/w/seg1.ts", 1) },
		},
		{name: "no_retry_404", seg: Segment{URL: o.URL + "/w/nope.ts"}, wantCode: 404, requests: 1},
		{
			name: "no_retry_403", seg: seg(whole, 1, 1000, false), wantCode: 403, requests: 1,
			setup: func() { o.Fail("/w/seg1.ts", http.StatusForbidden, 1) },
		},
		{name: "too_large", seg: seg(whole, 1, 1000, false), maxBytes: 999, wantErr: ErrTooLarge, requests: 1},
		{name: "range_too_large", seg: seg(ranged, 1, 700, true), maxBytes: 699, wantErr: ErrTooLarge, requests: 0},
		{
			name: "range_past_end", seg: Segment{URL: full.SegmentURL(0), Range: &ByteRange{Start: 800, End: 999}},
			wantErr: ErrBadResponse, requests: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			path := tc.seg.URL[len(o.URL):]
			before := o.Requests(path)
			f, m := newTestFetcher(o, tc.retries, tc.maxBytes)
			b, err := f.Fetch(context.Background(), tc.seg)
			require.Equal(t, tc.requests, o.Requests(path)-before)
			switch {
			case tc.wantCode != 0:
				var se *StatusError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tc.wantCode, se.Code)
			case tc.wantErr != nil:
				require.ErrorIs(t, err, tc.wantErr)
			default:
				require.NoError(t, err)
				require.Equal(t, tc.data, b)
				require.GreaterOrEqual(t, testutil.ToFloat64(m.fetchedBytes.WithLabelValues("f")), float64(len(tc.data)))
				require.Equal(t, float64(tc.requests), testutil.ToFloat64(m.requests.WithLabelValues("f", "segment", "2xx"))+
					testutil.ToFloat64(m.requests.WithLabelValues("f", "segment", "4xx"))+
					testutil.ToFloat64(m.requests.WithLabelValues("f", "segment", "5xx")))
			}
		})
	}
}

func TestFetcherBadPartialResponses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"wrong_content_range", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-9/100")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(make([]byte, 10))
		}, ErrBadResponse},
		{"wrong_length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(make([]byte, 5))
		}, ErrBadResponse},
		{"short_chunked", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPartialContent)
			w.(http.Flusher).Flush()
			_, _ = w.Write(make([]byte, 5))
		}, ErrTruncated},
		{"long_chunked", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPartialContent)
			w.(http.Flusher).Flush()
			_, _ = w.Write(make([]byte, 11))
		}, ErrBadResponse},
		{"partial_without_range", nil, ErrBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			h := tc.handler
			if h == nil {
				h = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusPartialContent) }
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				h(w, r)
			}))
			defer srv.Close()
			f := NewFetcher(FetcherConfig{Client: srv.Client(), RetryDelay: time.Millisecond, Retries: 1})
			seg := Segment{URL: srv.URL + "/s.ts", Range: &ByteRange{Start: 10, End: 19}}
			if tc.handler == nil {
				seg.Range = nil
			}
			_, err := f.Fetch(context.Background(), seg)
			require.ErrorIs(t, err, tc.want)
			if errors.Is(tc.want, ErrTruncated) {
				require.Equal(t, int32(2), calls.Load(), "truncation is retried")
			} else {
				require.Equal(t, int32(1), calls.Load(), "a bad response is not retried")
			}
		})
	}
}

func TestFetcherTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	f := NewFetcher(FetcherConfig{Client: srv.Client(), Timeout: 20 * time.Millisecond, Retries: 1, RetryDelay: time.Millisecond})
	_, err := f.Fetch(context.Background(), Segment{URL: srv.URL + "/slow.ts"})
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(10*time.Millisecond, cancel)
	defer stop.Stop()
	f = NewFetcher(FetcherConfig{Client: srv.Client()})
	_, err = f.Fetch(ctx, Segment{URL: srv.URL + "/slow.ts"})
	require.ErrorIs(t, err, context.Canceled)
}

func TestParseContentRange(t *testing.T) {
	for in, want := range map[string][3]int64{
		"bytes 0-9/100":   {0, 9, 1},
		"bytes 10-19/*":   {10, 19, 1},
		" bytes 5 - 6/7 ": {5, 6, 1},
		"bytes */100":     {0, 0, 0},
		"items 0-9/100":   {0, 0, 0},
		"bytes 0-9":       {0, 0, 0},
		"bytes x-9/10":    {0, 0, 0},
		"":                {0, 0, 0},
	} {
		s, e, ok := parseContentRange(in)
		if want[2] == 0 {
			require.False(t, ok, in)
			continue
		}
		require.True(t, ok, in)
		require.Equal(t, [2]int64{want[0], want[1]}, [2]int64{s, e}, in)
	}
}

// testMemory is a Memory with a limit that records its peak.
type testMemory struct {
	mu          sync.Mutex
	limit, used int64
	peak        int64
}

func (m *testMemory) Reserve(n int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used+n > m.limit {
		return false
	}
	m.used += n
	m.peak = max(m.peak, m.used)
	return true
}

func (m *testMemory) Release(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= n
}

// TestFetcherMemory: downloads reserve their bytes as they read them, so
// eight 4 MiB downloads at once against a 1 MiB allowance never hold more
// than the allowance and fail with ErrNoRoom without retrying; what fits is
// handed over reserved, with and without a Content-Length.
func TestFetcherMemory(t *testing.T) {
	big := make([]byte, 4<<20)
	small := make([]byte, 100_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := big
		if r.URL.Path == "/small.ts" || r.URL.Path == "/chunked.ts" {
			body = small
		}
		if r.URL.Path == "/chunked.ts" || r.URL.Path == "/bigchunked.ts" {
			w.Header().Set("Transfer-Encoding", "chunked")
			for i := 0; i < len(body); i += 10_000 {
				_, _ = w.Write(body[i:min(len(body), i+10_000)])
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	mem := &testMemory{limit: 1 << 20}
	reg := NewMetrics(prometheus.NewRegistry())
	f := NewFetcher(FetcherConfig{Stream: "f", Client: srv.Client(), Metrics: reg, RetryDelay: time.Millisecond, Memory: mem})

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/big.ts"
			if i%2 == 1 {
				path = "/bigchunked.ts"
			}
			_, err := f.Fetch(context.Background(), Segment{URL: srv.URL + path})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.ErrorIs(t, err, ErrNoRoom)
	}
	require.LessOrEqual(t, mem.peak, mem.limit)
	require.Zero(t, mem.used, "a failed download keeps nothing")

	for _, path := range []string{"/small.ts", "/chunked.ts"} {
		data, err := f.Fetch(context.Background(), Segment{URL: srv.URL + path})
		require.NoError(t, err, path)
		require.Len(t, data, len(small))
		require.Equal(t, int64(len(small)), mem.used, "%s: exactly the data is handed over reserved", path)
		mem.Release(int64(len(data)))
	}
}
