package playlist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Fetcher defaults.
const (
	// DefaultSegmentTimeout is the default FetcherConfig.Timeout.
	DefaultSegmentTimeout = 20 * time.Second
	// DefaultSegmentRetries is the default FetcherConfig.Retries.
	DefaultSegmentRetries = 3
	// DefaultMaxSegmentBytes is the default FetcherConfig.MaxSegmentBytes.
	DefaultMaxSegmentBytes = 64 << 20
	// DefaultRetryDelay is the default FetcherConfig.RetryDelay.
	DefaultRetryDelay = 250 * time.Millisecond

	maxRetryDelay = 5 * time.Second
)

// FetcherConfig configures a Fetcher.
type FetcherConfig struct {
	// Stream is the configured stream name, used in logs and metric labels.
	Stream string
	// Client makes the requests; nil means a new http.Client. Build it with
	// a Policy to confine segment URLs to the stream's origins (see
	// FollowerConfig.Client).
	Client *http.Client
	// Metrics records requests and bytes; nil means unregistered metrics.
	Metrics *Metrics
	// Timeout bounds one attempt, body included; default 20 s.
	Timeout time.Duration
	// Retries is how many times a transient failure is retried; 0 means the
	// default 3, a negative value means no retries.
	Retries int
	// MaxSegmentBytes bounds a segment body; default 64 MiB.
	MaxSegmentBytes int64
	// RetryDelay is the first backoff delay, doubled per retry up to 5 s,
	// with jitter; default 250 ms.
	RetryDelay time.Duration
	// Logger receives debug logs about retries.
	Logger zerolog.Logger
	// Memory, when set, accounts for segment bytes as they are read: a
	// download reserves its bytes before holding them and fails with
	// ErrNoRoom when the reservation is refused, so downloads in flight are
	// bounded with what is kept. Fetch hands the reservation of the bytes
	// it returns to its caller (release len(data) when done with them).
	Memory Memory
}

// Memory is a byte allowance shared by downloads and what they keep.
type Memory interface {
	// Reserve takes n bytes, or reports false and takes none.
	Reserve(n int64) bool
	// Release gives back n bytes.
	Release(n int64)
}

// memoryChunk is the step in which a body of unknown length is reserved.
const memoryChunk = 64 << 10

// Fetcher downloads segment bytes from the origin.
type Fetcher struct {
	cfg   FetcherConfig
	log   zerolog.Logger
	warn  zerolog.Logger // sampled, for refused requests
	retry backoff
}

// NewFetcher returns a Fetcher for cfg, filling in defaults.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultSegmentTimeout
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultSegmentRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.MaxSegmentBytes <= 0 {
		cfg.MaxSegmentBytes = DefaultMaxSegmentBytes
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	log := cfg.Logger.With().Str("component", "fetch").Str("stream", cfg.Stream).Logger()
	return &Fetcher{
		cfg:   cfg,
		log:   log,
		warn:  log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute}),
		retry: backoff{min: cfg.RetryDelay, max: max(cfg.RetryDelay, maxRetryDelay)},
	}
}

// Fetch downloads one segment and returns exactly its bytes: the whole
// resource, or seg.Range of it.
//
// A byte range is requested with "Range: bytes=start-end". A 206 answer must
// carry exactly that range. An origin that ignores Range and answers 200 with
// the whole resource is accepted: the bytes before the range are read and
// discarded, the range is kept, and the rest is not read. (A browser's HTTP
// loader would hand the whole body to the player; P2PML would then reject it
// because its length differs from the range, so only the range is ever worth
// serving to peers.)
//
// The body length is checked against Content-Length and the range length.
// Network errors, timeouts, 5xx, 429 and truncated bodies are retried with
// backoff; other statuses and bodies over MaxSegmentBytes fail at once.
func (f *Fetcher) Fetch(ctx context.Context, seg Segment) ([]byte, error) {
	if r := seg.Range; r != nil {
		if r.Start < 0 || r.End < r.Start {
			return nil, fmt.Errorf("fetch segment %s: %w: bad range %d-%d", seg.URL, ErrBadResponse, r.Start, r.End)
		}
		if r.Len() > f.cfg.MaxSegmentBytes {
			return nil, fmt.Errorf("fetch segment %s: %w: range of %d bytes > %d", seg.URL, ErrTooLarge, r.Len(), f.cfg.MaxSegmentBytes)
		}
	}
	for attempt := 0; ; attempt++ {
		data, retry, err := f.once(ctx, seg)
		if err == nil {
			return data, nil
		}
		if errors.Is(err, ErrRefused) {
			// The error names the host alone: the URL may carry tokens.
			return nil, fmt.Errorf("fetch segment: %w", err)
		}
		err = fmt.Errorf("fetch segment %s: %w", seg.URL, err)
		if ctx.Err() != nil || !retry || attempt >= f.cfg.Retries {
			return nil, err
		}
		f.log.Debug().Err(err).Int("attempt", attempt+1).Msg("segment fetch failed, retrying")
		if !sleepCtx(ctx, time.After, f.retry.delay(attempt+1)) {
			return nil, err
		}
	}
}

// once makes one attempt; retry reports whether a failure is transient.
func (f *Fetcher) once(ctx context.Context, seg Segment) (data []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, seg.URL, nil)
	if err != nil {
		return nil, false, err
	}
	if r := seg.Range; r != nil {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.Start, 10)+"-"+strconv.FormatInt(r.End, 10))
	}
	start := time.Now()
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		if re := refusal(err); re != nil {
			// Refused: not a request to count, and retrying cannot help.
			f.cfg.Metrics.observeRefused(f.warn, f.cfg.Stream, kindSegment, re)
			return nil, false, re
		}
		f.cfg.Metrics.observeRequest(f.cfg.Stream, kindSegment, 0, time.Since(start))
		return nil, true, err
	}
	body := &countingReader{r: resp.Body}
	defer func() {
		f.cfg.Metrics.observeRequest(f.cfg.Stream, kindSegment, resp.StatusCode, time.Since(start))
		_ = resp.Body.Close()
		f.cfg.Metrics.fetchedBytes.WithLabelValues(f.cfg.Stream).Add(float64(body.n))
	}()
	mem := &holding{m: f.cfg.Memory}
	defer func() {
		if err != nil {
			mem.release(mem.held) // nothing is handed over
		} else {
			mem.release(mem.held - int64(len(data))) // the caller owns len(data)
		}
	}()
	switch {
	case resp.StatusCode == http.StatusOK && seg.Range == nil:
		return f.readWhole(body, resp.ContentLength, mem)
	case resp.StatusCode == http.StatusOK:
		return readFromFull(body, resp.ContentLength, *seg.Range, mem)
	case resp.StatusCode == http.StatusPartialContent && seg.Range != nil:
		return readPartial(body, resp, *seg.Range, mem)
	case resp.StatusCode == http.StatusPartialContent:
		return nil, false, fmt.Errorf("%w: 206 to a request without Range", ErrBadResponse)
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		se := &StatusError{Code: resp.StatusCode}
		return nil, se.Temporary(), se
	}
}

// holding is what one download has reserved of a Memory.
type holding struct {
	m    Memory
	held int64
}

// grow makes sure at least n bytes are reserved.
func (h *holding) grow(n int64) error {
	if h.m == nil || n <= h.held {
		return nil
	}
	if !h.m.Reserve(n - h.held) {
		return fmt.Errorf("%w: %d bytes", ErrNoRoom, n)
	}
	h.held = n
	return nil
}

func (h *holding) release(n int64) {
	if h.m != nil && n > 0 {
		h.m.Release(n)
		h.held -= n
	}
}

// reservingReader reserves memoryChunk steps ahead of what it reads.
type reservingReader struct {
	r    io.Reader
	mem  *holding
	read int64
}

func (r *reservingReader) Read(p []byte) (int, error) {
	if err := r.mem.grow(r.read + memoryChunk); err != nil {
		return 0, err
	}
	p = p[:min(int64(len(p)), r.mem.held-r.read)]
	n, err := r.r.Read(p)
	r.read += int64(n)
	return n, err
}

// readWhole reads a 200 response to a request without Range. A known
// length is reserved and read in one buffer; an unknown one as it comes.
func (f *Fetcher) readWhole(body io.Reader, contentLength int64, mem *holding) ([]byte, bool, error) {
	limit := f.cfg.MaxSegmentBytes
	if contentLength > limit {
		return nil, false, fmt.Errorf("%w: content-length %d > %d", ErrTooLarge, contentLength, limit)
	}
	if contentLength >= 0 {
		if err := mem.grow(contentLength); err != nil {
			return nil, false, err
		}
		data := make([]byte, contentLength)
		if n, err := io.ReadFull(body, data); err != nil {
			return nil, true, fmt.Errorf("%w: got %d of %d bytes: %w", ErrTruncated, n, contentLength, err)
		}
		if n, _ := body.Read(make([]byte, 1)); n > 0 {
			return nil, true, fmt.Errorf("%w: more than content-length %d", ErrBadResponse, contentLength)
		}
		return data, false, nil
	}
	var r io.Reader = io.LimitReader(body, limit+1)
	if mem.m != nil {
		r = &reservingReader{r: r, mem: mem}
	}
	data, err := io.ReadAll(r)
	if errors.Is(err, ErrNoRoom) {
		return nil, false, err
	}
	if err != nil {
		return nil, true, readError(err)
	}
	if mem.m != nil && int64(cap(data)) > int64(len(data))+memoryChunk {
		data = append([]byte(nil), data...) // hold no more than is reserved
	}
	if int64(len(data)) > limit {
		return nil, false, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	if contentLength >= 0 && int64(len(data)) != contentLength {
		return nil, true, fmt.Errorf("%w: got %d of %d bytes", ErrTruncated, len(data), contentLength)
	}
	return data, false, nil
}

// readFromFull cuts r out of a 200 response carrying the whole resource.
func readFromFull(body io.Reader, contentLength int64, r ByteRange, mem *holding) ([]byte, bool, error) {
	if contentLength >= 0 && contentLength <= r.End {
		return nil, false, fmt.Errorf("%w: resource of %d bytes ends before range %d-%d", ErrBadResponse, contentLength, r.Start, r.End)
	}
	if err := mem.grow(r.Len()); err != nil {
		return nil, false, err
	}
	if n, err := io.CopyN(io.Discard, body, r.Start); err != nil {
		return nil, true, fmt.Errorf("%w: resource ended after %d bytes, before range %d-%d: %w", ErrTruncated, n, r.Start, r.End, err)
	}
	data := make([]byte, r.Len())
	if n, err := io.ReadFull(body, data); err != nil {
		return nil, true, fmt.Errorf("%w: got %d of %d range bytes: %w", ErrTruncated, n, len(data), err)
	}
	return data, false, nil
}

// readPartial reads a 206 response, which must hold exactly r.
func readPartial(body io.Reader, resp *http.Response, r ByteRange, mem *holding) ([]byte, bool, error) {
	if cr := resp.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != r.Start || end != r.End {
			return nil, false, fmt.Errorf("%w: content-range %q for range %d-%d", ErrBadResponse, cr, r.Start, r.End)
		}
	}
	if resp.ContentLength >= 0 && resp.ContentLength != r.Len() {
		return nil, false, fmt.Errorf("%w: content-length %d for a %d-byte range", ErrBadResponse, resp.ContentLength, r.Len())
	}
	if err := mem.grow(r.Len()); err != nil {
		return nil, false, err
	}
	data := make([]byte, r.Len())
	if n, err := io.ReadFull(body, data); err != nil {
		return nil, true, fmt.Errorf("%w: got %d of %d range bytes: %w", ErrTruncated, n, len(data), readError(err))
	}
	if n, _ := body.Read(make([]byte, 1)); n > 0 {
		return nil, false, fmt.Errorf("%w: more than %d range bytes", ErrBadResponse, r.Len())
	}
	return data, false, nil
}

// parseContentRange parses "bytes <start>-<end>/<size or *>".
func parseContentRange(s string) (start, end int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, _, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	end, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	return start, end, err1 == nil && err2 == nil
}

// readError marks a body cut short by the server as ErrTruncated.
func readError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	return fmt.Errorf("read body: %w", err)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
