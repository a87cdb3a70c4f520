//go:build interop

package interop

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mediaGeneratorVersion is part of the cache key: bump it when the ffmpeg arguments change.
const mediaGeneratorVersion = 1

// MediaSpec describes generated test media: H.264 Main + AAC in MPEG-TS HLS, from ffmpeg testsrc2 + sine.
type MediaSpec struct {
	DurationSec int           `json:"durationSec"`
	SegmentSec  int           `json:"segmentSec"`
	FrameRate   int           `json:"frameRate"`
	Variants    []VariantSpec `json:"variants"`
}

// VariantSpec is one rendition; total bitrate is roughly VideoKbps + AudioKbps + TS overhead.
type VariantSpec struct {
	Name      string `json:"name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	VideoKbps int    `json:"videoKbps"`
	AudioKbps int    `json:"audioKbps"`
}

// DefaultMediaSpec returns the standard media: 60 s, 2 s segments, 240p ~300 kbps and 360p ~700 kbps.
func DefaultMediaSpec() MediaSpec {
	return MediaSpec{
		DurationSec: 60,
		SegmentSec:  2,
		FrameRate:   25,
		Variants: []VariantSpec{
			{Name: "240p", Width: 426, Height: 240, VideoKbps: 200, AudioKbps: 64},
			{Name: "360p", Width: 640, Height: 360, VideoKbps: 600, AudioKbps: 64},
		},
	}
}

// Media is generated HLS media on disk: Dir/master.m3u8 and Dir/<variant>/{index.m3u8,seg-NNN.ts}.
type Media struct {
	Dir      string
	Spec     MediaSpec
	Variants []MediaVariant
}

// MediaVariant is one rendition of Media with its segments in playlist order.
type MediaVariant struct {
	Name           string
	TargetDuration int
	Segments       []MediaSegment
}

// MediaSegment is one segment file with its duration and content hash.
type MediaSegment struct {
	File     string // file name inside the variant directory
	Duration float64
	Size     int64
	SHA256   string // hex
}

// Variant returns the named variant or nil.
func (m *Media) Variant(name string) *MediaVariant {
	for i := range m.Variants {
		if m.Variants[i].Name == name {
			return &m.Variants[i]
		}
	}
	return nil
}

// ensureMedia returns the media for spec, generating it with ffmpeg into
// test/interop/out/media/<hash of spec>/ unless already cached there. Generation writes into a temp
// directory that is renamed into place, so a failed run leaves no partial cache.
func ensureMedia(t testing.TB, spec MediaSpec) *Media {
	t.Helper()
	key, err := json.Marshal(struct {
		V    int
		Spec MediaSpec
	}{mediaGeneratorVersion, spec})
	require.NoError(t, err)
	sum := sha256.Sum256(key)
	root := filepath.Join(interopDir(t), "out", "media")
	dir := filepath.Join(root, hex.EncodeToString(sum[:])[:16])

	if _, err := os.Stat(filepath.Join(dir, "master.m3u8")); errors.Is(err, os.ErrNotExist) {
		require.NoError(t, os.MkdirAll(root, 0o755))
		tmp, err := os.MkdirTemp(root, ".tmp-")
		require.NoError(t, err)
		defer os.RemoveAll(tmp) // no-op after a successful rename
		start := time.Now()
		require.NoError(t, generateMedia(t, spec, tmp))
		if err := os.Rename(tmp, dir); err != nil {
			// Another process may have won the race; its copy is as good as ours.
			_, statErr := os.Stat(filepath.Join(dir, "master.m3u8"))
			require.NoError(t, statErr, "rename media into cache: %v", err)
		}
		t.Logf("media: generated %s in %s", dir, time.Since(start).Round(time.Millisecond))
	}

	m, err := loadMedia(dir, spec)
	require.NoError(t, err)
	return m
}

// generateMedia runs one ffmpeg process for all variants, then writes the master playlist.
func generateMedia(t testing.TB, spec MediaSpec, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	maxW, maxH := 0, 0
	for _, v := range spec.Variants {
		maxW, maxH = max(maxW, v.Width), max(maxH, v.Height)
	}
	args := []string{
		"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%d", maxW, maxH, spec.FrameRate, spec.DurationSec),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", spec.DurationSec),
	}
	var filter strings.Builder
	fmt.Fprintf(&filter, "[0:v]split=%d", len(spec.Variants))
	for i := range spec.Variants {
		fmt.Fprintf(&filter, "[s%d]", i)
	}
	for i, v := range spec.Variants {
		fmt.Fprintf(&filter, ";[s%d]scale=%d:%d[v%d]", i, v.Width, v.Height, i)
	}
	args = append(args, "-filter_complex", filter.String())
	gop := strconv.Itoa(spec.SegmentSec * spec.FrameRate)
	for i, v := range spec.Variants {
		if err := os.MkdirAll(filepath.Join(dir, v.Name), 0o755); err != nil {
			return fmt.Errorf("create variant dir: %w", err)
		}
		args = append(args,
			"-map", fmt.Sprintf("[v%d]", i), "-map", "1:a",
			// ultrafast turns CABAC off, which makes the stream Constrained Baseline: turn it back on for Main.
			"-c:v", "libx264", "-profile:v", "main", "-level:v", "3.0", "-preset", "ultrafast", "-x264-params", "cabac=1",
			"-pix_fmt", "yuv420p",
			"-b:v", fmt.Sprintf("%dk", v.VideoKbps), "-maxrate", fmt.Sprintf("%dk", v.VideoKbps), "-bufsize", fmt.Sprintf("%dk", 2*v.VideoKbps),
			"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
			"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", spec.SegmentSec),
			"-c:a", "aac", "-b:a", fmt.Sprintf("%dk", v.AudioKbps),
			"-f", "hls", "-hls_time", strconv.Itoa(spec.SegmentSec), "-hls_playlist_type", "vod",
			"-hls_segment_filename", filepath.Join(v.Name, "seg-%03d.ts"),
			filepath.Join(v.Name, "index.m3u8"),
		)
	}
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, out)
	}
	m, err := loadMedia(dir, spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "master.m3u8"), []byte(m.masterPlaylist()), 0o644)
}

// masterPlaylist builds the master playlist: BANDWIDTH is the peak segment bitrate (RFC 8216 4.3.4.2),
// AVERAGE-BANDWIDTH the mean. avc1.4d401e = H.264 Main level 3.0, mp4a.40.2 = AAC LC.
func (m *Media) masterPlaylist() string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i, v := range m.Variants {
		vs := m.Spec.Variants[i]
		var peak, total, dur float64
		for _, s := range v.Segments {
			peak = math.Max(peak, float64(s.Size*8)/s.Duration)
			total += float64(s.Size * 8)
			dur += s.Duration
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,RESOLUTION=%dx%d,CODECS=\"avc1.4d401e,mp4a.40.2\",FRAME-RATE=%.3f\n%s/index.m3u8\n",
			int(math.Ceil(peak)), int(math.Ceil(total/dur)), vs.Width, vs.Height, float64(m.Spec.FrameRate), v.Name)
	}
	return b.String()
}

// loadMedia reads the variant playlists under dir and hashes every segment.
func loadMedia(dir string, spec MediaSpec) (*Media, error) {
	m := &Media{Dir: dir, Spec: spec}
	for _, vs := range spec.Variants {
		v, err := loadVariant(filepath.Join(dir, vs.Name), vs.Name)
		if err != nil {
			return nil, err
		}
		m.Variants = append(m.Variants, v)
	}
	return m, nil
}

func loadVariant(dir, name string) (MediaVariant, error) {
	v := MediaVariant{Name: name}
	f, err := os.Open(filepath.Join(dir, "index.m3u8"))
	if err != nil {
		return v, fmt.Errorf("open variant playlist: %w", err)
	}
	defer f.Close()
	var dur float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			v.TargetDuration, err = strconv.Atoi(strings.TrimPrefix(line, "#EXT-X-TARGETDURATION:"))
		case strings.HasPrefix(line, "#EXTINF:"):
			dur, err = strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ","), 64)
		case line != "" && !strings.HasPrefix(line, "#"):
			data, rerr := os.ReadFile(filepath.Join(dir, line))
			if rerr != nil {
				return v, fmt.Errorf("read segment: %w", rerr)
			}
			h := sha256.Sum256(data)
			v.Segments = append(v.Segments, MediaSegment{File: line, Duration: dur, Size: int64(len(data)), SHA256: hex.EncodeToString(h[:])})
		}
		if err != nil {
			return v, fmt.Errorf("parse %s playlist line %q: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return v, fmt.Errorf("read %s playlist: %w", name, err)
	}
	if len(v.Segments) == 0 || v.TargetDuration == 0 {
		return v, fmt.Errorf("variant %s: empty playlist", name)
	}
	return v, nil
}
