package playlist

import (
	"encoding/json"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// readJSON decodes testdata/<name> into v.
func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

// vectorFiles maps the vector manifests' URLs to their bodies.
func vectorFiles(t *testing.T) map[string][]byte {
	t.Helper()
	var idx struct {
		Files map[string]string `json:"files"`
	}
	readJSON(t, "manifests/index.json", &idx)
	out := map[string][]byte{}
	for u, name := range idx.Files {
		b, err := os.ReadFile(filepath.Join("testdata", "manifests", name))
		require.NoError(t, err)
		out[u] = b
	}
	return out
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// jsNumber formats v as JavaScript's String(number) does for the integral
// values (and NaN, Infinity) a Rendition bitrate can hold.
func jsNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// shortIDInput renders a Variant's Rendition as the generateStreamShortId
// argument object P2PML 2.3 builds, with every value as a string and empty or
// undefined values left out (generateStreamShortId treats them alike).
func shortIDInput(v Variant) map[string]string {
	r := v.Rendition
	m := map[string]string{"bitrate": jsNumber(r.Bitrate)}
	put := func(k, s string) {
		if s != "" {
			m[k] = s
		}
	}
	put("codecs", r.Codecs)
	if r.HasResolution {
		m["width"], m["height"] = strconv.Itoa(r.Width), strconv.Itoa(r.Height)
	}
	put("frameRate", r.FrameRate)
	put("videoRange", r.VideoRange)
	put("language", r.Language)
	put("channels", r.Channels)
	put("name", r.Name)
	return m
}

// jsInput normalises a JSON input object from the JS vectors the same way.
func jsInput(in map[string]any) map[string]string {
	m := map[string]string{}
	for k, v := range in {
		switch v := v.(type) {
		case string:
			if v != "" {
				m[k] = v
			}
		case float64:
			m[k] = jsNumber(v)
		}
	}
	return m
}
