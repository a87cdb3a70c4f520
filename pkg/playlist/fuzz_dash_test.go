package playlist

import (
	"math"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// dashSeeds returns every MPD of testdata/dash.
func dashSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, pat := range []string{"*.mpd", "single/*.mpd"} {
		names, err := filepath.Glob(filepath.Join("testdata", "dash", pat))
		if err != nil {
			f.Fatal(err)
		}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzParseMPD parses arbitrary MPDs and lists every variant's segments,
// at a clock inside the live window, with an index loader that serves the
// corpus MP4: nothing may panic, allocate without bound, or produce
// segments that break the invariants the seeder relies on.
func FuzzParseMPD(f *testing.F) {
	for _, s := range dashSeeds(f) {
		f.Add(s, int64(800))
	}
	mp4, err := os.ReadFile(filepath.Join("testdata", "dash", "single", "video.mp4"))
	if err != nil {
		f.Fatal(err)
	}
	load := func(_ string, r ByteRange) ([]byte, error) {
		if r.Start >= int64(len(mp4)) {
			return nil, ErrTruncated
		}
		return mp4[r.Start:min(r.End+1, int64(len(mp4)))], nil
	}
	u, _ := url.Parse("https://cdn.example.com/a/manifest.mpd")
	f.Fuzz(func(t *testing.T, body []byte, sinceAST int64) {
		d, err := ParseMPD(body, u)
		if err != nil {
			return
		}
		if len(d.Manifest.Variants) == 0 || d.Manifest.Format != FormatDASH {
			t.Fatalf("manifest %+v", d.Manifest)
		}
		now := d.AvailabilityStartTime.Add(time.Duration(sinceAST%(1<<40)) * time.Second)
		for _, v := range d.Manifest.Variants {
			if v.Type != Main && v.Type != Secondary || v.ShakaStreamID < 1 {
				t.Fatalf("variant %+v", v)
			}
			pl, _, err := d.Playlist(v, now, load)
			if err != nil {
				continue
			}
			if len(pl.Segments) > MaxSegments {
				t.Fatalf("%d segments", len(pl.Segments))
			}
			for _, s := range pl.Segments {
				if s.URL == "" || s.Key == "" || math.IsNaN(s.Start) || math.IsNaN(s.Duration) {
					t.Fatalf("segment %+v", s)
				}
				if s.Range != nil && (s.Range.Start < 0 || s.Range.Len() < 1) {
					t.Fatalf("range %+v", s.Range)
				}
				if !math.IsInf(s.Start, 0) && math.Abs(s.Start) < 1<<52 && s.ID != int64(math.Trunc(s.Start/0.5)) {
					t.Fatalf("id %d for start %v", s.ID, s.Start)
				}
			}
		}
	})
}

// FuzzParseSIDX parses arbitrary index bytes.
func FuzzParseSIDX(f *testing.F) {
	mp4, err := os.ReadFile(filepath.Join("testdata", "dash", "single", "video.mp4"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mp4[838:926], int64(838))
	f.Add(mp4[:1000], int64(0))
	f.Fuzz(func(t *testing.T, data []byte, offset int64) {
		if offset < 0 || offset > 1<<40 {
			return
		}
		refs, err := parseSIDX(data, offset)
		if err != nil {
			return
		}
		for _, r := range refs {
			if r.rng.Len() < 1 || r.rng.Start < offset || r.end < r.start {
				t.Fatalf("ref %+v", r)
			}
		}
	})
}
