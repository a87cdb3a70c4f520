package playlist

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DASH follower timing.
const (
	// minDASHWait is the shortest pause between two evaluations of a
	// dynamic MPD, so that a segment edge in the past cannot spin the loop.
	minDASHWait = 100 * time.Millisecond
	// maxDASHWait is the longest: the time-shift window also moves when no
	// segment appears, evicting old segments.
	maxDASHWait = 30 * time.Second
	// minDASHRefresh bounds how often an MPD is reloaded, whatever
	// minimumUpdatePeriod says (Shaka also waits at least a little).
	minDASHRefresh = time.Second
	// maxIndexCache bounds the SegmentBase indexes kept for static MPDs.
	maxIndexCache = 4096
)

// followDASH follows a DASH stream. The Manifest (its variants) stays the
// one loaded first. For every variant it sends a snapshot of the segments
// available now (DASH.Playlist), and for a dynamic MPD re-evaluates them
// whenever the next segment becomes available by the wall clock, and
// reloads the MPD (from its Location when it has one) every
// minimumUpdatePeriod. A snapshot is sent when its segment keys change,
// so new segments are announced as soon as they are available and segments
// that left the time-shift buffer disappear from the next snapshot.
//
// A static MPD gets one snapshot per variant (Live false) and is not
// followed further. Failures (MPD reload, SegmentBase index) are logged,
// counted and retried with backoff.
//
// The clock is Now corrected by the MPD's first usable UTCTiming
// (direct, http-xsdate, http-iso or http-head), measured when the MPD is
// loaded.
func (f *Follower) followDASH(ctx context.Context, d *DASH, mpdURL string, events chan<- Event) {
	m := d.Manifest
	last := make([][]string, len(m.Variants))
	done := make([]bool, len(m.Variants))
	cache := map[string][]byte{}
	offset := f.clockOffset(ctx, d)
	load := func(u string, r ByteRange) ([]byte, error) {
		key := u + "|" + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.End, 10)
		if b, ok := cache[key]; ok {
			return b, nil
		}
		b, err := f.getRange(ctx, u, r)
		if err != nil {
			return nil, err
		}
		if !d.Dynamic {
			if len(cache) >= maxIndexCache {
				clear(cache)
			}
			cache[key] = b
		}
		return b, nil
	}
	refreshAt := f.cfg.Now().Add(max(d.MinimumUpdatePeriod, minDASHRefresh))
	failures := 0
	for {
		now := f.cfg.Now().Add(offset)
		wake := now.Add(maxDASHWait)
		failed := false
		for i, v := range m.Variants {
			if done[i] {
				continue
			}
			pl, next, err := d.Playlist(v, now, load)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				failed = true
				f.cfg.Metrics.errors.WithLabelValues(f.cfg.Stream, reasonParse).Inc()
				f.warn.Warn().Err(err).Int("variant", i).Msg("dash segments failed")
				continue
			}
			keys := make([]string, len(pl.Segments))
			for j, s := range pl.Segments {
				keys[j] = s.Key
			}
			if last[i] == nil || !slices.Equal(keys, last[i]) {
				last[i] = keys
				f.log.Debug().Int("variant", i).Int("segments", len(pl.Segments)).Bool("live", pl.Live).Msg("playlist updated")
				if !send(ctx, events, Event{Manifest: m, Variant: i, Playlist: pl}) {
					return
				}
			}
			if !d.Dynamic {
				done[i] = true
			}
			if !next.IsZero() && next.Before(wake) {
				wake = next
			}
		}
		if !d.Dynamic && !failed {
			f.log.Debug().Msg("static mpd listed")
			return
		}
		var wait time.Duration
		if failed {
			failures++
			wait = f.retry.delay(failures)
		} else {
			failures = 0
			wait = wake.Sub(now)
			if d.Dynamic && d.MinimumUpdatePeriod > 0 {
				wait = min(wait, refreshAt.Sub(f.cfg.Now()))
			}
			wait = max(wait, minDASHWait)
		}
		if !sleepCtx(ctx, f.cfg.After, wait) {
			return
		}
		if d.Dynamic && d.MinimumUpdatePeriod > 0 && !f.cfg.Now().Before(refreshAt) {
			src := mpdURL
			if d.Location != "" {
				src = d.Location
			}
			refreshAt = f.cfg.Now().Add(max(d.MinimumUpdatePeriod, minDASHRefresh))
			if nd, err := f.reloadMPD(ctx, src); err != nil {
				if ctx.Err() != nil {
					return
				}
				f.cfg.Metrics.errors.WithLabelValues(f.cfg.Stream, reasonParse).Inc()
				f.warn.Warn().Err(err).Msg("mpd reload failed")
			} else {
				f.cfg.Metrics.reloads.WithLabelValues(f.cfg.Stream).Inc()
				nd.Manifest = m
				if d.Location != "" && nd.Location == "" {
					nd.Location = d.Location
				}
				d = nd
				if !d.Dynamic {
					// The presentation ended: send every variant once more,
					// now with Live false.
					clear(done)
					clear(last)
				}
			}
		}
	}
}

// reloadMPD fetches and parses an MPD again.
func (f *Follower) reloadMPD(ctx context.Context, rawURL string) (*DASH, error) {
	body, final, _, err := f.get(ctx, rawURL, kindMaster)
	if err != nil {
		return nil, err
	}
	if !isMPD(body) {
		return nil, fmt.Errorf("reload mpd %s: %w: not an mpd", final, ErrMalformed)
	}
	d, err := ParseMPD(body, final)
	if err != nil {
		return nil, fmt.Errorf("reload mpd %s: %w", final, err)
	}
	return d, nil
}

// getRange fetches byte range r of rawURL, bounded by MaxPlaylistBytes: a
// SegmentBase index. An origin that ignores Range is handled as the
// Fetcher does.
func (f *Follower) getRange(ctx context.Context, rawURL string, r ByteRange) ([]byte, error) {
	if r.Len() > f.cfg.MaxPlaylistBytes {
		return nil, fmt.Errorf("fetch index %s: %w: range of %d bytes > %d", rawURL, ErrTooLarge, r.Len(), f.cfg.MaxPlaylistBytes)
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch index %s: %w", rawURL, err)
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(r.Start, 10)+"-"+strconv.FormatInt(r.End, 10))
	start := time.Now()
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		f.cfg.Metrics.observeRequest(f.cfg.Stream, kindPlaylist, 0, time.Since(start))
		return nil, fmt.Errorf("fetch index %s: %w", rawURL, err)
	}
	defer closeBody(resp.Body)
	defer func() { f.cfg.Metrics.observeRequest(f.cfg.Stream, kindPlaylist, resp.StatusCode, time.Since(start)) }()
	var data []byte
	switch resp.StatusCode {
	case http.StatusPartialContent:
		data, _, err = readPartial(resp.Body, resp, r, &holding{})
	case http.StatusOK:
		data, _, err = readFromFull(resp.Body, resp.ContentLength, r, &holding{})
	default:
		err = &StatusError{Code: resp.StatusCode}
	}
	if err != nil {
		return nil, fmt.Errorf("fetch index %s: %w", rawURL, err)
	}
	return data, nil
}

// UTCTiming schemes (ISO/IEC 23009-1 Annex D, DASH-IF IOP 4.7).
const (
	utcDirect    = "urn:mpeg:dash:utc:direct:2014"
	utcHTTPXS    = "urn:mpeg:dash:utc:http-xsdate:2014"
	utcHTTPISO   = "urn:mpeg:dash:utc:http-iso:2014"
	utcHTTPHead  = "urn:mpeg:dash:utc:http-head:2014"
	maxTimeBytes = 1 << 10
)

// clockOffset is how far the MPD's UTCTiming clock is ahead of Now, from
// the first UTCTiming that answers; 0 without one.
func (f *Follower) clockOffset(ctx context.Context, d *DASH) time.Duration {
	if !d.Dynamic {
		return 0
	}
	for _, u := range d.UTCTiming {
		t, ok := f.utcTime(ctx, d, u)
		if ok {
			off := t.Sub(f.cfg.Now())
			f.log.Debug().Str("scheme", u.Scheme).Dur("offset", off).Msg("clock synchronised")
			return off
		}
	}
	return 0
}

// utcTime reads one UTCTiming source.
func (f *Follower) utcTime(ctx context.Context, d *DASH, u UTCTiming) (time.Time, bool) {
	switch u.Scheme {
	case utcDirect:
		return parseXSDateTime(u.Value)
	case utcHTTPXS, utcHTTPISO, utcHTTPHead:
	default:
		return time.Time{}, false
	}
	src := strings.Fields(u.Value) // the value may list several URLs
	if len(src) == 0 {
		return time.Time{}, false
	}
	method := http.MethodGet
	if u.Scheme == utcHTTPHead {
		method = http.MethodHead
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, resolveDashURL(d.url, src[0]), nil)
	if err != nil {
		return time.Time{}, false
	}
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		f.warn.Warn().Err(err).Str("scheme", u.Scheme).Msg("utc timing failed")
		return time.Time{}, false
	}
	defer closeBody(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return time.Time{}, false
	}
	if u.Scheme == utcHTTPHead {
		t, err := http.ParseTime(resp.Header.Get("Date"))
		return t, err == nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTimeBytes))
	if err != nil {
		return time.Time{}, false
	}
	return parseXSDateTime(string(b))
}
