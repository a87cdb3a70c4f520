// Package playlisttest provides an in-memory HLS and DASH origin on
// 127.0.0.1 for tests: static files, generated VOD and live media playlists
// and live MPDs whose live window the test advances, redirects, injected
// failures and request counts.
package playlisttest

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Origin is an HTTP server on 127.0.0.1 serving HLS from memory. Paths are
// matched without their query string. It is safe for concurrent use.
type Origin struct {
	// URL is the base URL, "http://127.0.0.1:<port>", without a trailing slash.
	URL string

	srv *httptest.Server

	mu          sync.Mutex
	files       map[string][]byte
	media       map[string]*Media // by playlist path
	segments    map[string]*Media // by segment directory ("/v/")
	dash        map[string]*DASHLive
	redirects   map[string]redirect
	faults      map[string][]fault
	ignoreRange map[string]bool
	requests    map[string]int
}

type redirect struct {
	to   string
	code int
}

type fault struct {
	status   int  // HTTP status to answer, or 0
	truncate bool // send half the body with the full Content-Length
}

// NewOrigin starts an Origin; Close stops it.
func NewOrigin() *Origin {
	o := &Origin{
		files:       map[string][]byte{},
		media:       map[string]*Media{},
		segments:    map[string]*Media{},
		dash:        map[string]*DASHLive{},
		redirects:   map[string]redirect{},
		faults:      map[string][]fault{},
		ignoreRange: map[string]bool{},
		requests:    map[string]int{},
	}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	o.URL = o.srv.URL
	return o
}

// Close shuts the server down.
func (o *Origin) Close() { o.srv.Close() }

// Client returns an http.Client for the origin (it follows redirects).
func (o *Origin) Client() *http.Client { return o.srv.Client() }

// SetFile serves body at path ("/master.m3u8"), replacing what was there.
// Range requests are honoured.
func (o *Origin) SetFile(path string, body []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.files[path] = body
}

// Redirect answers requests for from with a 302 to to, a path (query allowed)
// or an absolute URL.
func (o *Origin) Redirect(from, to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.redirects[from] = redirect{to: to, code: http.StatusFound}
}

// Fail makes the next n requests for path answer status.
func (o *Origin) Fail(path string, status, n int) {
	o.addFaults(path, fault{status: status}, n)
}

// Truncate makes the next n requests for path answer 200 with the full
// Content-Length but only the first half of the body, then drop the
// connection.
func (o *Origin) Truncate(path string, n int) {
	o.addFaults(path, fault{truncate: true}, n)
}

func (o *Origin) addFaults(path string, f fault, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for range n {
		o.faults[path] = append(o.faults[path], f)
	}
}

// IgnoreRange makes path answer 200 with the whole resource even to Range
// requests, as some origins do.
func (o *Origin) IgnoreRange(path string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ignoreRange[path] = true
}

// Requests returns how many requests path has received (redirected and failed
// ones included).
func (o *Origin) Requests(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests[path]
}

// Advance moves the window of every live Media by one segment.
func (o *Origin) Advance() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.media {
		m.advance()
	}
}

// MediaOptions describes a generated media playlist.
type MediaOptions struct {
	// Live makes the playlist live: Segments is then the window length, and the
	// window moves on Advance until End.
	Live bool
	// Segments is the number of segments (VOD) or the window length (live);
	// default 6.
	Segments int
	// Duration is every segment's duration in seconds; default 4.
	Duration float64
	// MediaSequence is the first segment's media sequence number.
	MediaSequence int64
	// SegmentSize is the size of every segment in bytes; default 1000.
	SegmentSize int
	// ByteRange serves the segments as EXT-X-BYTERANGE sub-ranges of one
	// resource, "all.ts", with the offset given only on the first one.
	ByteRange bool
	// Data returns the bytes of the segment with media sequence number msn;
	// default deterministic bytes derived from the playlist path and msn.
	// Its length must be SegmentSize when ByteRange is set.
	Data func(msn int64) []byte
}

// Media is a generated media playlist served by an Origin. Its segments are
// "seg<msn>.ts" (or "all.ts" with ByteRange) next to the playlist, so use one
// Media per directory.
type Media struct {
	o     *Origin
	path  string
	dir   string
	opts  MediaOptions
	first int64 // media sequence number of the first segment in the playlist
	ended bool
}

// AddMedia serves a generated media playlist at path ("/v/index.m3u8").
func (o *Origin) AddMedia(path string, opts MediaOptions) *Media {
	if opts.Segments <= 0 {
		opts.Segments = 6
	}
	if opts.Duration <= 0 {
		opts.Duration = 4
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 1000
	}
	m := &Media{o: o, path: path, dir: dirOf(path), opts: opts, first: opts.MediaSequence, ended: !opts.Live}
	if m.opts.Data == nil {
		m.opts.Data = m.defaultData
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.media[path] = m
	o.segments[m.dir] = m
	return m
}

func dirOf(p string) string {
	return p[:strings.LastIndexByte(p, '/')+1]
}

// URL returns the playlist's absolute URL.
func (m *Media) URL() string { return m.o.URL + m.path }

// SegmentURL returns the absolute URL of segment msn (the shared resource with
// ByteRange).
func (m *Media) SegmentURL(msn int64) string {
	if m.opts.ByteRange {
		return m.o.URL + m.dir + "all.ts"
	}
	return m.o.URL + m.dir + "seg" + strconv.FormatInt(msn, 10) + ".ts"
}

// SegmentData returns the bytes of segment msn.
func (m *Media) SegmentData(msn int64) []byte { return m.opts.Data(msn) }

// Advance moves a live window by one segment.
func (m *Media) Advance() {
	m.o.mu.Lock()
	defer m.o.mu.Unlock()
	m.advance()
}

func (m *Media) advance() {
	if !m.ended {
		m.first++
	}
}

// End appends EXT-X-ENDLIST: the playlist turns VOD with its current window.
func (m *Media) End() {
	m.o.mu.Lock()
	defer m.o.mu.Unlock()
	m.ended = true
}

// Window returns the media sequence numbers of the first and last segment in
// the playlist now.
func (m *Media) Window() (first, last int64) {
	m.o.mu.Lock()
	defer m.o.mu.Unlock()
	return m.first, m.first + int64(m.opts.Segments) - 1
}

// Playlist returns the current playlist text.
func (m *Media) Playlist() string {
	m.o.mu.Lock()
	defer m.o.mu.Unlock()
	return m.playlist()
}

func (m *Media) playlist() string {
	var b strings.Builder
	version := 3
	if m.opts.ByteRange {
		version = 4
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n",
		version, int(math.Ceil(m.opts.Duration)), m.first)
	if !m.opts.Live {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	for i := range m.opts.Segments {
		msn := m.first + int64(i)
		dur := strconv.FormatFloat(m.opts.Duration, 'f', 3, 64)
		if m.opts.ByteRange {
			size := int64(m.opts.SegmentSize)
			if i == 0 {
				fmt.Fprintf(&b, "#EXTINF:%s,\n#EXT-X-BYTERANGE:%d@%d\nall.ts\n", dur, size, (msn-m.opts.MediaSequence)*size)
			} else {
				fmt.Fprintf(&b, "#EXTINF:%s,\n#EXT-X-BYTERANGE:%d\nall.ts\n", dur, size)
			}
			continue
		}
		fmt.Fprintf(&b, "#EXTINF:%s,\nseg%d.ts\n", dur, msn)
	}
	if m.ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

func (m *Media) lastMSN() int64 { return m.first + int64(m.opts.Segments) - 1 }

// defaultData returns SegmentSize deterministic bytes for msn.
func (m *Media) defaultData(msn int64) []byte {
	seed := uint32(2166136261)
	for i := 0; i < len(m.path); i++ {
		seed = (seed ^ uint32(m.path[i])) * 16777619
	}
	seed ^= uint32(msn) * 2654435761
	b := make([]byte, m.opts.SegmentSize)
	for i := range b {
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		b[i] = byte(seed)
	}
	return b
}

// segment returns the content served at name in the Media's directory.
func (m *Media) segment(name string) ([]byte, bool) {
	if m.opts.ByteRange {
		if name != "all.ts" {
			return nil, false
		}
		var all []byte
		for msn := m.opts.MediaSequence; msn <= m.lastMSN(); msn++ {
			all = append(all, m.opts.Data(msn)...)
		}
		return all, true
	}
	s, ok := strings.CutPrefix(name, "seg")
	if !ok {
		return nil, false
	}
	s, ok = strings.CutSuffix(s, ".ts")
	if !ok {
		return nil, false
	}
	msn, err := strconv.ParseInt(s, 10, 64)
	if err != nil || msn < m.opts.MediaSequence || msn > m.lastMSN() {
		return nil, false
	}
	return m.opts.Data(msn), true
}

func (o *Origin) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	o.mu.Lock()
	o.requests[p]++
	var f *fault
	if fs := o.faults[p]; len(fs) > 0 {
		f = &fs[0]
		o.faults[p] = fs[1:]
	}
	rd, isRedirect := o.redirects[p]
	body, found := o.lookup(p)
	ignoreRange := o.ignoreRange[p]
	o.mu.Unlock()

	switch {
	case f != nil && f.status != 0:
		http.Error(w, http.StatusText(f.status), f.status)
	case isRedirect:
		http.Redirect(w, r, rd.to, rd.code)
	case !found:
		http.NotFound(w, r)
	case f != nil && f.truncate:
		w.Header().Set("Content-Type", contentType(p))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
	default:
		w.Header().Set("Content-Type", contentType(p))
		if ignoreRange {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, path.Base(p), time.Time{}, bytes.NewReader(body))
	}
}

// lookup finds the content for p; o.mu is held.
func (o *Origin) lookup(p string) ([]byte, bool) {
	if m, ok := o.media[p]; ok {
		return []byte(m.playlist()), true
	}
	if l, ok := o.dash[p]; ok {
		return []byte(l.mpd()), true
	}
	for dir, l := range o.dash {
		if rest, ok := strings.CutPrefix(p, dir); ok {
			if b, ok := l.segment(rest); ok {
				return b, true
			}
		}
	}
	if m, ok := o.segments[dirOf(p)]; ok {
		if b, ok := m.segment(path.Base(p)); ok {
			return b, true
		}
	}
	b, ok := o.files[p]
	return b, ok
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".ts":
		return "video/mp2t"
	case ".mp4", ".m4s":
		return "video/mp4"
	case ".mpd":
		return "application/dash+xml"
	}
	return "application/octet-stream"
}

// DASHOptions describes a generated dynamic (live) MPD.
type DASHOptions struct {
	// AvailabilityStart is MPD@availabilityStartTime.
	AvailabilityStart time.Time
	// Window is the number of segments listed; default 5.
	Window int
	// Duration is every segment's duration in seconds; default 2.
	Duration int
	// MinimumUpdatePeriod is MPD@minimumUpdatePeriod; default 2 s.
	MinimumUpdatePeriod time.Duration
	// SegmentSize is the size of every segment in bytes; default 1000.
	SegmentSize int
}

// DASHLive is a generated dynamic MPD with one video representation, "v",
// whose SegmentTemplate/SegmentTimeline ($Time$, timescale 1000) lists a
// window of segments that the test moves with Advance. Segment k (0-based,
// starting at presentation time k*Duration) is "v/seg-<k*Duration*1000>.m4s"
// next to the MPD.
type DASHLive struct {
	o     *Origin
	path  string
	dir   string
	opts  DASHOptions
	first int64 // index of the first listed segment
}

// AddDASHLive serves a generated live MPD at path ("/live/manifest.mpd").
// The window starts with segments 0..Window-1.
func (o *Origin) AddDASHLive(path string, opts DASHOptions) *DASHLive {
	if opts.Window <= 0 {
		opts.Window = 5
	}
	if opts.Duration <= 0 {
		opts.Duration = 2
	}
	if opts.MinimumUpdatePeriod <= 0 {
		opts.MinimumUpdatePeriod = 2 * time.Second
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 1000
	}
	l := &DASHLive{o: o, path: path, dir: dirOf(path), opts: opts}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dash[path] = l
	return l
}

// URL returns the MPD's absolute URL.
func (l *DASHLive) URL() string { return l.o.URL + l.path }

// SegmentURL returns the absolute URL of segment k.
func (l *DASHLive) SegmentURL(k int64) string {
	return l.o.URL + l.dir + "v/seg-" + strconv.FormatInt(k*int64(l.opts.Duration)*1000, 10) + ".m4s"
}

// SegmentData returns the bytes of segment k.
func (l *DASHLive) SegmentData(k int64) []byte {
	b := make([]byte, l.opts.SegmentSize)
	for i := range b {
		b[i] = byte(int64(i)*31 + k*7)
	}
	return b
}

// Advance moves the window by one segment: the next segment is listed and
// the oldest one dropped.
func (l *DASHLive) Advance() {
	l.o.mu.Lock()
	defer l.o.mu.Unlock()
	l.first++
}

// Window returns the first and last listed segment.
func (l *DASHLive) Window() (first, last int64) {
	l.o.mu.Lock()
	defer l.o.mu.Unlock()
	return l.first, l.first + int64(l.opts.Window) - 1
}

func (l *DASHLive) mpd() string {
	d := l.opts.Duration * 1000
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" profiles="urn:mpeg:dash:profile:isoff-live:2011"
  availabilityStartTime="%s" minimumUpdatePeriod="PT%gS" timeShiftBufferDepth="PT%dS" minBufferTime="PT2S">
  <Period id="p0" start="PT0S">
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <SegmentTemplate timescale="1000" media="$RepresentationID$/seg-$Time$.m4s" initialization="$RepresentationID$/init.mp4">
        <SegmentTimeline><S t="%d" d="%d" r="%d"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="v" bandwidth="1000000" codecs="avc1.64001f" width="1280" height="720"/>
    </AdaptationSet>
  </Period>
</MPD>
`, l.opts.AvailabilityStart.UTC().Format(time.RFC3339Nano), l.opts.MinimumUpdatePeriod.Seconds(),
		l.opts.Window*l.opts.Duration, l.first*int64(d), d, l.opts.Window-1)
}

// segment returns the content of name in the MPD's directory.
func (l *DASHLive) segment(name string) ([]byte, bool) {
	s, ok := strings.CutPrefix(name, "v/seg-")
	if !ok {
		return nil, false
	}
	s, ok = strings.CutSuffix(s, ".m4s")
	if !ok {
		return nil, false
	}
	t, err := strconv.ParseInt(s, 10, 64)
	step := int64(l.opts.Duration) * 1000
	if err != nil || t%step != 0 || t/step > l.first+int64(l.opts.Window)-1 {
		return nil, false
	}
	return l.SegmentData(t / step), true
}
