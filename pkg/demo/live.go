package demo

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/superpeer/superpeer/pkg/playlist"
)

// Live serves an endless live HLS stream made of a VOD's segments, the way a
// live origin publishes: a window of the latest segments that advances by
// one segment every segment duration, with increasing media sequence
// numbers. The VOD loops, with EXT-X-DISCONTINUITY at each wrap. Segments
// have one URL per sequence number (seg-<msn>.ts) and the bytes of VOD
// segment msn mod n; a segment not yet published is 404.
//
// The VOD is a master playlist (master.m3u8) with media playlists in
// sub-directories whose segments all have the same duration.
type Live struct {
	fsys     fs.FS
	master   []byte
	variants map[string]*liveVariant // by directory
	window   int
	segDur   time.Duration
	start    time.Time
	now      func() time.Time
}

type liveVariant struct {
	dir      string
	segments []string  // VOD segment file names, relative to dir
	durs     []float64 // their EXTINF durations
	target   int
}

// NewLive reads the VOD in fsys. window is the number of segments in each
// live playlist; the window is full from the start, as if the stream had
// been running. now is the clock (time.Now when nil).
func NewLive(fsys fs.FS, window int, now func() time.Time) (*Live, error) {
	if now == nil {
		now = time.Now
	}
	master, err := fs.ReadFile(fsys, "master.m3u8")
	if err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	base := &url.URL{Scheme: "http", Host: "vod.invalid", Path: "/master.m3u8"}
	m, err := playlist.ParseMaster(master, base)
	if err != nil {
		return nil, fmt.Errorf("live: master: %w", err)
	}
	l := &Live{fsys: fsys, master: master, variants: map[string]*liveVariant{}, window: window, now: now}
	for _, v := range m.Variants {
		u, err := url.Parse(v.URL)
		if err != nil {
			return nil, fmt.Errorf("live: variant %s: %w", v.URL, err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("live: %w", err)
		}
		mp, err := playlist.ParseMedia(body, u)
		if err != nil {
			return nil, fmt.Errorf("live: %s: %w", name, err)
		}
		lv := &liveVariant{dir: path.Dir(name), target: int(mp.TargetDuration / time.Second)}
		for _, s := range mp.Segments {
			su, err := url.Parse(s.URL)
			if err != nil || s.Range != nil {
				return nil, fmt.Errorf("live: %s: segment %s: whole files only", name, s.URL)
			}
			lv.segments = append(lv.segments, path.Base(su.Path))
			lv.durs = append(lv.durs, s.Duration)
		}
		if len(lv.segments) < window {
			return nil, fmt.Errorf("live: %s has %d segments, fewer than the window %d", name, len(lv.segments), window)
		}
		d := time.Duration(lv.durs[0] * float64(time.Second))
		if l.segDur == 0 {
			l.segDur = d
		}
		l.variants[lv.dir] = lv
	}
	if l.segDur <= 0 {
		return nil, fmt.Errorf("live: no segments")
	}
	l.start = now()
	return l, nil
}

// published returns how many segments exist at t: the initial window plus
// one per segment duration since the start.
func (l *Live) published(t time.Time) int64 {
	return int64(l.window) + int64(t.Sub(l.start)/l.segDur)
}

// ServeHTTP serves master.m3u8, <variant>/index.m3u8 and
// <variant>/seg-<msn>.ts, relative to where the handler is mounted (use
// http.StripPrefix).
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	if p == "master.m3u8" {
		serveBytes(w, r, "master.m3u8", l.master)
		return
	}
	dir, file := path.Split(p)
	lv := l.variants[strings.TrimSuffix(dir, "/")]
	if lv == nil {
		http.NotFound(w, r)
		return
	}
	published := l.published(l.now())
	if file == "index.m3u8" {
		w.Header().Set("Cache-Control", "no-cache")
		serveBytes(w, r, file, lv.playlist(published, l.window))
		return
	}
	msn, ok := parseSegmentName(file)
	if !ok || msn >= published || msn < 0 {
		http.NotFound(w, r)
		return
	}
	name := path.Join(lv.dir, lv.segments[msn%int64(len(lv.segments))])
	body, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	serveBytes(w, r, file, body)
}

// playlist renders the window ending at the latest published segment.
func (lv *liveVariant) playlist(published int64, window int) []byte {
	n := int64(len(lv.segments))
	first := published - int64(window)
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", lv.target, first)
	// Discontinuities before the window: one per wrap of the VOD.
	fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", first/n)
	for msn := first; msn < published; msn++ {
		if msn > first && msn%n == 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		fmt.Fprintf(&b, "#EXTINF:%s,\nseg-%d.ts\n", strconv.FormatFloat(lv.durs[msn%n], 'f', 3, 64), msn)
	}
	return b.Bytes()
}

func parseSegmentName(file string) (int64, bool) {
	s, ok := strings.CutPrefix(file, "seg-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".ts")
	if !ok {
		return 0, false
	}
	msn, err := strconv.ParseInt(s, 10, 64)
	return msn, err == nil
}

// serveBytes serves an in-memory file with its HLS content type; Range
// requests are honoured.
func serveBytes(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	switch path.Ext(name) {
	case ".m3u8":
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	case ".ts":
		w.Header().Set("Content-Type", "video/mp2t")
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}
