package playlist

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fuzzSeeds returns the bodies of testdata/manifests and of the JS vector
// cases.
func fuzzSeeds(f *testing.F, vectors string) [][]byte {
	f.Helper()
	var seeds [][]byte
	names, err := filepath.Glob(filepath.Join("testdata", "manifests", "*.m3u8"))
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
	var file struct {
		Cases []struct {
			Body string `json:"body"`
		} `json:"cases"`
	}
	readJSONF(f, vectors, &file)
	for _, c := range file.Cases {
		seeds = append(seeds, []byte(c.Body))
	}
	return seeds
}

func readJSONF(f *testing.F, name string, v any) {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		f.Fatal(err)
	}
}

func FuzzParseMaster(f *testing.F) {
	for _, s := range fuzzSeeds(f, "vectors/hlsjs-master.json") {
		f.Add(s, "https://cdn.example.com/a/master.m3u8?t=1")
	}
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n"), "HTTP://[::1]:80/a/../b/%2e/c")
	f.Fuzz(func(t *testing.T, body []byte, rawURL string) {
		u, err := url.Parse(rawURL)
		if err != nil {
			return
		}
		m, err := ParseMaster(body, u)
		if err != nil {
			return
		}
		if len(m.Variants) == 0 {
			t.Fatal("no variants")
		}
		if strings.Contains(m.SwarmBase, "?") || !strings.HasPrefix(m.URL, m.SwarmBase) {
			t.Fatalf("swarm base %q of %q", m.SwarmBase, m.URL)
		}
		seen := map[string]bool{}
		last := map[StreamType]int{Main: -1, Secondary: -1}
		for _, v := range m.Variants {
			if v.URL == "" || seen[v.URL] {
				t.Fatalf("bad or duplicate url %q", v.URL)
			}
			seen[v.URL] = true
			if v.Type != Main && v.Type != Secondary {
				t.Fatalf("type %q", v.Type)
			}
			if v.Ordinal <= last[v.Type] {
				t.Fatalf("ordinals not increasing: %+v", m.Variants)
			}
			last[v.Type] = v.Ordinal
		}
	})
}

func FuzzParseMedia(f *testing.F) {
	for _, s := range fuzzSeeds(f, "vectors/hlsjs-media.json") {
		f.Add(s, "https://cdn.example.com/a/index.m3u8")
	}
	f.Fuzz(func(t *testing.T, body []byte, rawURL string) {
		u, err := url.Parse(rawURL)
		if err != nil {
			return
		}
		pl, err := ParseMedia(body, u)
		if err != nil {
			return
		}
		if pl.MediaSequence < 0 || pl.MediaSequence+int64(len(pl.Segments)) > maxSafeInteger {
			t.Fatalf("media sequence %d", pl.MediaSequence)
		}
		for i, s := range pl.Segments {
			want := int64(i)
			if pl.Live {
				want += pl.MediaSequence
			}
			if s.ID != want {
				t.Fatalf("segment %d id %d", i, s.ID)
			}
			if s.Sequence != pl.MediaSequence+int64(i) {
				t.Fatalf("segment %d sequence %d", i, s.Sequence)
			}
			key := s.URL
			if s.Range != nil {
				if s.Range.Start < 0 || s.Range.Len() < 1 {
					t.Fatalf("range %+v", s.Range)
				}
				key += "|" + strconv.FormatInt(s.Range.Start, 10) + "-" + strconv.FormatInt(s.Range.End, 10)
			}
			if s.Key != key || s.Duration < 0 {
				t.Fatalf("segment %+v", s)
			}
		}
	})
}
