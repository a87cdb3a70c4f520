//go:build interop

package interop

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// OriginOptions configures the live simulation of an Origin. The zero value is the default.
type OriginOptions struct {
	// LiveWindow is the number of segments in a live media playlist. Default 12 (24 s): the live
	// profile's liveSyncDurationCount 10 needs a window longer than 10 segments.
	LiveWindow int
	// LiveHeadStart is the number of live segments already published when the origin starts.
	// Default: LiveWindow (the window is full at once). 1 simulates a stream that just began.
	LiveHeadStart int
	// Addr is the listen address, e.g. "10.213.0.1:0". Default: 127.0.0.1 on a free port.
	Addr string
	// DASH, when set, is served as a static MPD under /dash/ (see Origin).
	DASH *DASHMedia
	// DASHTimeline, when set, is served as a static MPD under /dash-timeline/.
	DASHTimeline *DASHMedia
	// DASHLive, when set, is served as a dynamic MPD under /dash-live/ (see Origin).
	DASHLive *DASHMedia
	// DASHLiveHeadStart is the number of live DASH segments already available when the origin
	// starts. Default 20 (40 s): P2P Media Loader's Shaka integration plays 25 s behind the live edge.
	DASHLiveHeadStart int
}

// Origin is an HTTP server on 127.0.0.1 (or OriginOptions.Addr) serving:
//
//	/vod/master.m3u8, /vod/<variant>/index.m3u8, /vod/<variant>/seg-NNN.ts   the generated media
//	/live/master.m3u8, /live/<variant>/index.m3u8                            a live window over it
//	/live/<variant>/seg-<msn>.ts                                             bytes of VOD segment msn % n
//	/dash/manifest.mpd, /dash/<file>.m4s                                     OriginOptions.DASH (static MPD)
//	/dash-timeline/manifest.mpd, /dash-timeline/<file>.m4s                   OriginOptions.DASHTimeline
//	/dash-live/manifest.mpd, /dash-live/<file>.m4s                           OriginOptions.DASHLive, dynamic
//	/web/                                                                    test/interop/web
//	/node_modules/                                                           test/interop/node_modules
//
// The live stream publishes one segment per segment duration since the origin started (after the
// head start), loops over the VOD segments with EXT-X-DISCONTINUITY at each wrap, and answers 404 for
// segments not yet published. The live DASH stream is the DASHLive files under a dynamic MPD whose
// availabilityStartTime is DASHLiveHeadStart segments before the origin started; a media segment is
// answered once it has ended (404 before). Every response's body bytes are counted by request path.
type Origin struct {
	// URL is the base URL, http://127.0.0.1:port (or the Addr host), without a trailing slash.
	URL string

	media     *Media
	window    int
	headStart int
	start     time.Time

	dash          *DASHMedia
	dashTimeline  *DASHMedia
	dashLive      *DASHMedia
	dashLiveStart time.Time // availabilityStartTime of /dash-live/manifest.mpd

	mu    sync.Mutex
	bytes map[string]int64 // request path -> body bytes served
}

// newOrigin starts an Origin for media; it is closed with t.
func newOrigin(t testing.TB, media *Media, opts OriginOptions) *Origin {
	t.Helper()
	if opts.LiveWindow <= 0 {
		opts.LiveWindow = 12
	}
	if opts.LiveHeadStart <= 0 {
		opts.LiveHeadStart = opts.LiveWindow
	}
	if opts.DASHLiveHeadStart <= 0 {
		opts.DASHLiveHeadStart = 20
	}
	o := &Origin{
		media:        media,
		window:       opts.LiveWindow,
		headStart:    opts.LiveHeadStart,
		dash:         opts.DASH,
		dashTimeline: opts.DASHTimeline,
		dashLive:     opts.DASHLive,
		bytes:        make(map[string]int64),
	}
	dir := interopDir(t)
	mux := http.NewServeMux()
	mux.Handle("/vod/", http.StripPrefix("/vod/", http.FileServer(http.Dir(media.Dir))))
	mux.Handle("/web/", http.StripPrefix("/web/", http.FileServer(http.Dir(filepath.Join(dir, "web")))))
	mux.Handle("/node_modules/", http.StripPrefix("/node_modules/", http.FileServer(http.Dir(filepath.Join(dir, "node_modules")))))
	mux.HandleFunc("/live/", o.serveLive)
	if o.dash != nil {
		mux.Handle("/dash/", http.StripPrefix("/dash/", http.FileServer(http.Dir(o.dash.Dir))))
	}
	if o.dashTimeline != nil {
		mux.Handle("/dash-timeline/", http.StripPrefix("/dash-timeline/", http.FileServer(http.Dir(o.dashTimeline.Dir))))
	}
	if o.dashLive != nil {
		mux.HandleFunc("/dash-live/", o.serveDASHLive)
	}

	srv := httptest.NewUnstartedServer(o.count(mux))
	if opts.Addr != "" {
		ln, err := net.Listen("tcp", opts.Addr)
		require.NoError(t, err, "origin listen %s", opts.Addr)
		_ = srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start() // httptest listens on 127.0.0.1 unless opts.Addr
	o.start = time.Now()
	if o.dashLive != nil {
		o.dashLiveStart = o.start.Add(-time.Duration(opts.DASHLiveHeadStart*o.dashLive.Spec.SegmentSec) * time.Second)
	}
	o.URL = srv.URL
	t.Cleanup(srv.Close)
	return o
}

// VODMaster returns the VOD master playlist URL.
func (o *Origin) VODMaster() string { return o.URL + "/vod/master.m3u8" }

// LiveMaster returns the live master playlist URL.
func (o *Origin) LiveMaster() string { return o.URL + "/live/master.m3u8" }

// DASHVOD returns the static MPD URL (OriginOptions.DASH).
func (o *Origin) DASHVOD() string { return o.URL + "/dash/manifest.mpd" }

// DASHTimelineVOD returns the static SegmentTimeline MPD URL (OriginOptions.DASHTimeline).
func (o *Origin) DASHTimelineVOD() string { return o.URL + "/dash-timeline/manifest.mpd" }

// DASHLive returns the dynamic MPD URL (OriginOptions.DASHLive).
func (o *Origin) DASHLive() string { return o.URL + "/dash-live/manifest.mpd" }

// Bytes returns the body bytes served for request paths starting with prefix (e.g. "/vod/360p/",
// "/live/"), playlists included.
func (o *Origin) Bytes(prefix string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n int64
	for p, b := range o.bytes {
		if strings.HasPrefix(p, prefix) {
			n += b
		}
	}
	return n
}

// SegmentBytes returns the bytes served for media segments (.ts, .m4s) under prefix.
func (o *Origin) SegmentBytes(prefix string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n int64
	for p, b := range o.bytes {
		if strings.HasPrefix(p, prefix) && (strings.HasSuffix(p, ".ts") || strings.HasSuffix(p, ".m4s")) {
			n += b
		}
	}
	return n
}

// ExpectedSHA256 returns the hex SHA-256 of the origin file behind a segment URL (query ignored),
// for VOD and live segment URLs alike.
func (o *Origin) ExpectedSHA256(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false
	}
	if dir, file, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); ok && !strings.Contains(file, "/") {
		switch {
		case dir == "dash" && o.dash != nil:
			sum, ok := o.dash.Files[file]
			return sum, ok
		case dir == "dash-timeline" && o.dashTimeline != nil:
			sum, ok := o.dashTimeline.Files[file]
			return sum, ok
		case dir == "dash-live" && o.dashLive != nil:
			sum, ok := o.dashLive.Files[file]
			return sum, ok
		}
	}
	seg, ok := o.segmentFor(u.Path)
	if !ok {
		return "", false
	}
	return seg.SHA256, true
}

// segmentFor maps /vod/<variant>/<file> and /live/<variant>/seg-<msn>.ts to a media segment.
func (o *Origin) segmentFor(p string) (MediaSegment, bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) != 3 {
		return MediaSegment{}, false
	}
	v := o.media.Variant(parts[1])
	if v == nil {
		return MediaSegment{}, false
	}
	switch parts[0] {
	case "vod":
		for _, s := range v.Segments {
			if s.File == parts[2] {
				return s, true
			}
		}
	case "live":
		msn, ok := parseLiveSegment(parts[2])
		if ok {
			return v.Segments[msn%len(v.Segments)], true
		}
	}
	return MediaSegment{}, false
}

func parseLiveSegment(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "seg-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".ts")
	if !ok {
		return 0, false
	}
	msn, err := strconv.Atoi(s)
	return msn, err == nil && msn >= 0
}

// published returns how many live segments (MSN 0..n-1) exist at time now: the head start plus every
// segment whose full duration has elapsed since the origin started.
func (o *Origin) published(now time.Time) int {
	segs := o.media.Variants[0].Segments
	elapsed := now.Sub(o.start).Seconds()
	n := o.headStart
	for {
		d := segs[n%len(segs)].Duration
		if elapsed < d {
			return n
		}
		elapsed -= d
		n++
	}
}

func (o *Origin) serveLive(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	rel := strings.TrimPrefix(path.Clean(r.URL.Path), "/live/")
	if rel == "master.m3u8" {
		http.ServeFile(w, r, filepath.Join(o.media.Dir, "master.m3u8"))
		return
	}
	name, file, ok := strings.Cut(rel, "/")
	v := o.media.Variant(name)
	if !ok || v == nil {
		http.NotFound(w, r)
		return
	}
	published := o.published(time.Now())
	if file == "index.m3u8" {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		_, _ = w.Write([]byte(o.livePlaylist(v, published)))
		return
	}
	msn, ok := parseLiveSegment(file)
	if !ok || msn >= published {
		http.NotFound(w, r)
		return
	}
	seg := v.Segments[msn%len(v.Segments)]
	http.ServeFile(w, r, filepath.Join(o.media.Dir, v.Name, seg.File))
}

// serveDASHLive answers the dynamic MPD (rendered per request) and the DASHLive files: init segments
// always, media segment k once availabilityStartTime + k × SegmentSec has passed.
func (o *Origin) serveDASHLive(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	file := strings.TrimPrefix(path.Clean(r.URL.Path), "/dash-live/")
	now := time.Now()
	if file == "manifest.mpd" {
		w.Header().Set("Content-Type", "application/dash+xml")
		_, _ = w.Write([]byte(o.dashLive.liveMPD(o.dashLiveStart, now, time.Minute)))
		return
	}
	if _, ok := o.dashLive.Files[file]; !ok {
		http.NotFound(w, r)
		return
	}
	if sm := dashChunkRE.FindStringSubmatch(file); sm != nil {
		k, _ := strconv.Atoi(sm[2])
		if now.Before(o.dashLiveStart.Add(time.Duration(k*o.dashLive.Spec.SegmentSec) * time.Second)) {
			http.NotFound(w, r)
			return
		}
	}
	http.ServeFile(w, r, filepath.Join(o.dashLive.Dir, file))
}

// livePlaylist renders the sliding window ending at the newest published segment. The
// discontinuity sequence counts the wraps before the first segment; a wrap inside the window gets
// EXT-X-DISCONTINUITY.
func (o *Origin) livePlaylist(v *MediaVariant, published int) string {
	n := len(v.Segments)
	first := max(0, published-o.window)
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-DISCONTINUITY-SEQUENCE:%d\n",
		v.TargetDuration, first, first/n)
	for msn := first; msn < published; msn++ {
		if msn > first && msn%n == 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\nseg-%d.ts\n", v.Segments[msn%n].Duration, msn)
	}
	return b.String()
}

// count wraps h: it sets content types the Go table lacks or gets wrong (.mjs, .ts, .m3u8), allows
// any origin, and adds the body size of every non-error response to o.bytes under the request path.
func (o *Origin) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch path.Ext(r.URL.Path) {
		case ".js", ".mjs":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		case ".m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		case ".ts":
			w.Header().Set("Content-Type", "video/mp2t")
		case ".mpd":
			w.Header().Set("Content-Type", "application/dash+xml")
		case ".m4s":
			w.Header().Set("Content-Type", "video/mp4")
		case ".map":
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		if cw.status < http.StatusBadRequest { // 404s for unpublished live segments are not egress
			o.mu.Lock()
			o.bytes[r.URL.Path] += cw.n
			o.mu.Unlock()
		}
	})
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// PlayerParams are the query parameters of web/player.html (see web/player.mjs).
type PlayerParams struct {
	Src     string // manifest URL (required)
	P2PML   string // P2PML231 (default) or P2PML222
	Tracker string // ws:// announce URL
	SwarmID string // optional P2PML swarmId
	Live    bool   // live profile: hls.js liveSyncDurationCount 10, P2PML highDemandTimeWindow 8
	// Level locks hls.js to one level index (ABR off) when non-empty, e.g. "1" for 360p.
	Level string
	// Core and HLS override single P2PML core / hls.js settings; values are JSON-encoded.
	Core map[string]any
	HLS  map[string]any
	// ICE is "loopback" (default: keep only 127.0.0.1 remote candidates) or "all".
	ICE string
}

// P2PML versions the player page can load.
const (
	P2PML231 = "2.3.1"
	P2PML222 = "2.2.2"
)

// PlayerURL returns the URL of web/player.html on this origin with p encoded in the query.
func (o *Origin) PlayerURL(p PlayerParams) string {
	q := url.Values{}
	q.Set("src", p.Src)
	q.Set("p2pml", cmp.Or(p.P2PML, P2PML231))
	if p.Tracker != "" {
		q.Set("tracker", p.Tracker)
	}
	if p.SwarmID != "" {
		q.Set("swarmId", p.SwarmID)
	}
	if p.Live {
		q.Set("live", "1")
	}
	if p.Level != "" {
		q.Set("level", p.Level)
	}
	if p.ICE != "" {
		q.Set("ice", p.ICE)
	}
	for k, v := range p.Core {
		q.Set("core."+k, mustJSON(v))
	}
	for k, v := range p.HLS {
		q.Set("hls."+k, mustJSON(v))
	}
	return o.URL + "/web/player.html?" + q.Encode()
}

// mustJSON encodes a query override value; the values are test literals, so failure is a bug.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode player parameter %v: %v", v, err))
	}
	return string(b)
}
