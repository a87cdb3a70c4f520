package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// mediaSpec is the synthetic HLS stream the origin serves: variants ×
// segments of segSize bytes each. With live > 0 it is a live stream instead
// of a VOD: the playlists start with segments and gain live more, one at a
// time, as the origin publishes them.
type mediaSpec struct {
	variants int
	segments int
	segSize  int
	duration float64 // EXTINF seconds
	live     int
}

func (m mediaSpec) validate() error {
	switch {
	case m.variants < 1 || m.variants > 32:
		return errors.New("want 1 <= -variants <= 32")
	case m.segments < 1 || m.segments+m.live > 255 || m.live < 0:
		// 255: one announcement block (protocol-v2 §5.3), and the ids are 0..segments+live-1.
		return errors.New("want 1 <= -segments, 0 <= -live, -segments + -live <= 255")
	case m.segSize < 1024 || m.segSize > 32<<20:
		return errors.New("want 1 KiB <= -segment-size <= 32 MiB")
	}
	return nil
}

// uniqueBytes is the size of every segment of every variant, the live ones
// included.
func (m mediaSpec) uniqueBytes() int64 {
	return int64(m.variants) * int64(m.segments+m.live) * int64(m.segSize)
}

// segmentData is the content of segment seg of variant v: a ChaCha8 stream
// seeded by (v, seg), so that the origin, the browsers and the tests agree on
// every byte without storing them, and no two segments are alike.
func segmentData(v, seg, size int) []byte {
	var seed [32]byte
	copy(seed[:], "superpeer-loadgen")
	binary.BigEndian.PutUint32(seed[24:], uint32(v))
	binary.BigEndian.PutUint32(seed[28:], uint32(seg))
	b := make([]byte, size)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

// masterPlaylist lists the variants with distinct bandwidths and resolutions,
// so every variant has its own 2.3 short id.
func (m mediaSpec) masterPlaylist() string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n")
	for v := range m.variants {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d,CODECS=\"avc1.4d401f,mp4a.40.2\",FRAME-RATE=30.000\nv%d/index.m3u8\n",
			(v+1)*800000, 320*(v+1), 180*(v+1), v)
	}
	return b.String()
}

// mediaPlaylist lists the first n segments: all of a VOD, the published ones
// of a live stream (which has no end yet, so no ENDLIST).
func (m mediaSpec) mediaPlaylist(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", int(m.duration+0.999))
	if m.live == 0 {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	for s := range n {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\ns%d.ts\n", m.duration, s)
	}
	if m.live == 0 {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

// origin serves the synthetic stream on 127.0.0.1 from memory and counts the
// segment bytes it sends, so a run can report origin bytes ÷ unique bytes.
type origin struct {
	spec   mediaSpec
	url    string // base, e.g. http://127.0.0.1:PORT
	data   [][][]byte
	hashes [][][32]byte
	srv    *http.Server

	segBytes  atomic.Int64 // segment bytes sent since the last reset
	published atomic.Int64 // segments per variant in the playlists
	mu        sync.Mutex
	fetched   map[[2]int]time.Time // when each segment was first sent whole since the last reset
}

func newOrigin(spec mediaSpec) (*origin, error) {
	o := &origin{spec: spec, fetched: map[[2]int]time.Time{}}
	o.published.Store(int64(spec.segments))
	total := spec.segments + spec.live
	o.data = make([][][]byte, spec.variants)
	o.hashes = make([][][32]byte, spec.variants)
	for v := range spec.variants {
		o.data[v] = make([][]byte, total)
		o.hashes[v] = make([][32]byte, total)
		for s := range total {
			o.data[v][s] = segmentData(v, s, spec.segSize)
			o.hashes[v][s] = sha256.Sum256(o.data[v][s])
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("origin: listen: %w", err)
	}
	o.url = "http://" + ln.Addr().String()
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = o.srv.Serve(ln) }()
	return o, nil
}

// masterURL is the stream's manifest URL, the base of every swarm id.
func (o *origin) masterURL() string { return o.url + "/vod/master.m3u8" }

func (o *origin) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = o.srv.Shutdown(ctx)
}

// reset starts counting for a new target, and a live stream again from its
// first segments.
func (o *origin) reset() {
	o.segBytes.Store(0)
	o.published.Store(int64(o.spec.segments))
	o.mu.Lock()
	o.fetched = map[[2]int]time.Time{}
	o.mu.Unlock()
}

// complete reports whether every published segment was sent at least once
// since reset.
func (o *origin) complete() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.fetched) == o.spec.variants*int(o.published.Load())
}

// publish adds the next segment of a live stream to every variant's
// playlist and returns its number (-1 when all are published).
func (o *origin) publish() int {
	n := o.published.Load()
	if n >= int64(o.spec.segments+o.spec.live) {
		return -1
	}
	o.published.Store(n + 1)
	return int(n)
}

// fetchedAt reports when segment s of variant v was first sent whole.
func (o *origin) fetchedAt(v, s int) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	at, ok := o.fetched[[2]int{v, s}]
	return at, ok
}

// parsePath maps /vod/master.m3u8, /vod/v<V>/index.m3u8 and /vod/v<V>/s<S>.ts.
func (m mediaSpec) parsePath(p string) (kind string, v, s int, ok bool) {
	rest, found := strings.CutPrefix(p, "/vod/")
	if !found {
		return "", 0, 0, false
	}
	if rest == "master.m3u8" {
		return "master", 0, 0, true
	}
	dir, file, found := strings.Cut(rest, "/")
	if !found || !strings.HasPrefix(dir, "v") {
		return "", 0, 0, false
	}
	v, err := strconv.Atoi(dir[1:])
	if err != nil || v < 0 || v >= m.variants {
		return "", 0, 0, false
	}
	if file == "index.m3u8" {
		return "media", v, 0, true
	}
	num, found := strings.CutSuffix(strings.TrimPrefix(file, "s"), ".ts")
	if !found || !strings.HasPrefix(file, "s") {
		return "", 0, 0, false
	}
	s, err = strconv.Atoi(num)
	if err != nil || s < 0 || s >= m.segments+m.live {
		return "", 0, 0, false
	}
	return "segment", v, s, true
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	kind, v, s, ok := o.spec.parsePath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch kind {
	case "master":
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		_, _ = w.Write([]byte(o.spec.masterPlaylist()))
	case "media":
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		_, _ = w.Write([]byte(o.spec.mediaPlaylist(int(o.published.Load()))))
	case "segment":
		if s >= int(o.published.Load()) {
			http.NotFound(w, r) // not published yet
			return
		}
		w.Header().Set("Content-Type", "video/mp2t")
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data[v][s])))
		n, err := w.Write(o.data[v][s])
		o.segBytes.Add(int64(n))
		if err != nil {
			return
		}
		// Recorded before the last buffered bytes are flushed, so that
		// whoever has read the whole body finds the segment counted.
		// Write has already handed all but the buffer's last few KiB to
		// the connection.
		o.mu.Lock()
		if _, ok := o.fetched[[2]int{v, s}]; !ok {
			o.fetched[[2]int{v, s}] = time.Now()
		}
		o.mu.Unlock()
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
}
