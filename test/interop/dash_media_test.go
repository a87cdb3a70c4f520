//go:build interop

package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dashGeneratorVersion is part of the DASH cache key: bump it when the ffmpeg arguments change.
const dashGeneratorVersion = 1

// DASHMedia is ffmpeg-made DASH on disk, from the same source as Media (testsrc2 + sine, H.264 Main +
// AAC, the spec's variants and segment duration), in fragmented MP4:
//
//	Dir/manifest.mpd                       static MPD, SegmentTemplate with $Number$, and a
//	                                       SegmentTimeline when Timeline is set
//	Dir/init-<rep>.m4s                     initialization segments
//	Dir/chunk-<rep>-<NNN>.m4s              media segments, numbers from 1
//
// Representations 0..len(Variants)-1 are the video variants in spec order (one AdaptationSet), the
// last one is the audio (its own AdaptationSet).
type DASHMedia struct {
	Dir      string
	Spec     MediaSpec
	Timeline bool
	Segments int               // media segments per representation
	Files    map[string]string // file name -> hex SHA-256, every .m4s
	MPD      string            // manifest.mpd as ffmpeg wrote it
}

// DefaultDASHSpec is DefaultMediaSpec: 60 s, 2 s segments, 240p and 360p.
func DefaultDASHSpec() MediaSpec { return DefaultMediaSpec() }

// LiveDASHSpec is DefaultMediaSpec made long enough for the live simulation to run without wrapping
// (a DASH segment's timestamps are in its bytes, so the live MPD cannot loop over the same files the
// way the HLS live simulation does with EXT-X-DISCONTINUITY).
func LiveDASHSpec() MediaSpec {
	s := DefaultMediaSpec()
	s.DurationSec = 180
	return s
}

// ensureDASHMedia returns the DASH media for spec (with a SegmentTimeline when timeline is set, else
// SegmentTemplate@duration), generated with ffmpeg into
// test/interop/out/media/dash-<hash of spec>/ unless cached there (same scheme as ensureMedia).
func ensureDASHMedia(t testing.TB, spec MediaSpec, timeline bool) *DASHMedia {
	t.Helper()
	key, err := json.Marshal(struct {
		V        int
		DASH     bool
		Timeline bool
		Spec     MediaSpec
	}{dashGeneratorVersion, true, timeline, spec})
	require.NoError(t, err)
	sum := sha256.Sum256(key)
	root := filepath.Join(interopDir(t), "out", "media")
	dir := filepath.Join(root, "dash-"+hex.EncodeToString(sum[:])[:16])

	if _, err := os.Stat(filepath.Join(dir, "manifest.mpd")); errors.Is(err, os.ErrNotExist) {
		require.NoError(t, os.MkdirAll(root, 0o755))
		tmp, err := os.MkdirTemp(root, ".tmp-dash-")
		require.NoError(t, err)
		defer os.RemoveAll(tmp)
		start := time.Now()
		require.NoError(t, generateDASH(spec, timeline, tmp))
		if err := os.Rename(tmp, dir); err != nil {
			_, statErr := os.Stat(filepath.Join(dir, "manifest.mpd"))
			require.NoError(t, statErr, "rename DASH media into cache: %v", err)
		}
		t.Logf("media: generated DASH %s in %s", dir, time.Since(start).Round(time.Millisecond))
	}
	m, err := loadDASH(dir, spec)
	require.NoError(t, err)
	m.Timeline = timeline
	return m
}

// generateDASH runs one ffmpeg process: every video variant plus one AAC track, DASH muxer,
// SegmentTemplate with $Number$ (and a SegmentTimeline when timeline is set), keyframes exactly every
// SegmentSec so video segments are equal. ffmpeg cuts audio differently with and without a timeline,
// so each flavour has its own files.
func generateDASH(spec MediaSpec, timeline bool, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
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
	for i := range spec.Variants {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
	}
	args = append(args, "-map", "1:a")
	gop := strconv.Itoa(spec.SegmentSec * spec.FrameRate)
	args = append(args,
		// As for the HLS media: ultrafast turns CABAC off (Constrained Baseline); turn it back on for Main.
		"-c:v", "libx264", "-profile:v", "main", "-level:v", "3.0", "-preset", "ultrafast", "-x264-params", "cabac=1",
		"-pix_fmt", "yuv420p",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", spec.SegmentSec),
	)
	for i, v := range spec.Variants {
		args = append(args,
			fmt.Sprintf("-b:v:%d", i), fmt.Sprintf("%dk", v.VideoKbps),
			fmt.Sprintf("-maxrate:v:%d", i), fmt.Sprintf("%dk", v.VideoKbps),
			fmt.Sprintf("-bufsize:v:%d", i), fmt.Sprintf("%dk", 2*v.VideoKbps))
	}
	args = append(args,
		"-c:a", "aac", "-b:a", fmt.Sprintf("%dk", spec.Variants[0].AudioKbps),
		"-f", "dash", "-seg_duration", strconv.Itoa(spec.SegmentSec),
		"-use_template", "1", "-use_timeline", map[bool]string{false: "0", true: "1"}[timeline],
		"-adaptation_sets", "id=0,streams=v id=1,streams=a",
		"-init_seg_name", "init-$RepresentationID$.m4s",
		"-media_seg_name", "chunk-$RepresentationID$-$Number%03d$.m4s",
		"manifest.mpd",
	)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg dash: %w: %s", err, out)
	}
	_, err := loadDASH(dir, spec)
	return err
}

var dashChunkRE = regexp.MustCompile(`^chunk-(\d+)-(\d+)\.m4s$`)

// loadDASH hashes every .m4s file under dir and checks that every representation has the same
// number of media segments.
func loadDASH(dir string, spec MediaSpec) (*DASHMedia, error) {
	mpd, err := os.ReadFile(filepath.Join(dir, "manifest.mpd"))
	if err != nil {
		return nil, fmt.Errorf("read MPD: %w", err)
	}
	m := &DASHMedia{Dir: dir, Spec: spec, Files: map[string]string{}, MPD: string(mpd)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	perRep := map[string]int{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".m4s") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(data)
		m.Files[e.Name()] = hex.EncodeToString(h[:])
		if sm := dashChunkRE.FindStringSubmatch(e.Name()); sm != nil {
			perRep[sm[1]]++
		}
	}
	if len(perRep) != len(spec.Variants)+1 {
		return nil, fmt.Errorf("DASH media: %d representations with segments, want %d", len(perRep), len(spec.Variants)+1)
	}
	counts := []int{}
	for _, n := range perRep {
		counts = append(counts, n)
	}
	sort.Ints(counts)
	// The last audio segment may be one more or less than video's when the durations do not divide.
	if counts[len(counts)-1]-counts[0] > 1 || counts[0] == 0 {
		return nil, fmt.Errorf("DASH media: uneven segment counts %v", perRep)
	}
	m.Segments = counts[0]
	return m, nil
}

// SegmentBytes returns the total size of the media segments of representation rep ("0", "1", …).
func (m *DASHMedia) SegmentBytes(rep string) int64 {
	var n int64
	for name := range m.Files {
		if sm := dashChunkRE.FindStringSubmatch(name); sm != nil && sm[1] == rep {
			if fi, err := os.Stat(filepath.Join(m.Dir, name)); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

var (
	mpdTypeRE     = regexp.MustCompile(`type="static"`)
	mpdDurationRE = regexp.MustCompile(`\s*mediaPresentationDuration="[^"]*"`)
)

// liveMPD turns the static MPD into a dynamic one whose segments become available over time:
// segment number k (from 1) of every representation is available once it has ended, at
// availabilityStart + k × SegmentSec. The files and their timestamps are the VOD ones, unchanged.
func (m *DASHMedia) liveMPD(availabilityStart, now time.Time, timeShift time.Duration) string {
	attrs := fmt.Sprintf(`type="dynamic" availabilityStartTime="%s" publishTime="%s" minimumUpdatePeriod="PT%dS" timeShiftBufferDepth="PT%dS" suggestedPresentationDelay="PT%dS"`,
		availabilityStart.UTC().Format("2006-01-02T15:04:05.000Z"), now.UTC().Format("2006-01-02T15:04:05.000Z"),
		m.Spec.SegmentSec, int(timeShift.Seconds()), 3*m.Spec.SegmentSec)
	s := mpdTypeRE.ReplaceAllLiteralString(m.MPD, attrs)
	return mpdDurationRE.ReplaceAllLiteralString(s, "")
}
