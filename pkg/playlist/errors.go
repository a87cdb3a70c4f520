package playlist

import (
	"errors"
	"strconv"
)

// ErrMalformed reports a playlist that cannot be parsed, or that hls.js would
// reject with a parsing error.
var ErrMalformed = errors.New("malformed playlist")

// ErrUnsupported reports a valid playlist that uses a feature this package does
// not model (for example EXT-X-DEFINE in a media playlist), so segment
// identities could not be computed the way a browser computes them.
var ErrUnsupported = errors.New("unsupported playlist feature")

// ErrTooLarge reports a playlist or segment body larger than the configured
// limit.
var ErrTooLarge = errors.New("body too large")

// ErrTruncated reports a response body shorter than its Content-Length or than
// the requested byte range.
var ErrTruncated = errors.New("truncated body")

// ErrNoRoom reports a segment download stopped because FetcherConfig.Memory
// refused to reserve its bytes: the cache is full.
var ErrNoRoom = errors.New("no room for the segment")

// ErrBadResponse reports a response that does not fit the request, such as a
// 206 with a Content-Range other than the one asked for.
var ErrBadResponse = errors.New("unexpected response")

var _ error = (*StatusError)(nil)

// StatusError is returned for an HTTP response whose status is not 2xx.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
}

// Error implements error.
func (e *StatusError) Error() string {
	return "http status " + strconv.Itoa(e.Code)
}

// Temporary reports whether retrying may succeed: 5xx and 429.
func (e *StatusError) Temporary() bool {
	return e.Code >= 500 || e.Code == 429
}

// ErrRefused reports a request or connection the stream's fetch Policy does
// not allow; the *RefusedError carrying it says why.
var ErrRefused = errors.New("refused by fetch policy")
