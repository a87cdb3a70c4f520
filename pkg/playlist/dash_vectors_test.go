package playlist

import (
	"crypto/sha1"
	"encoding/base64"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// parseMPDFile parses testdata/dash/<name> as if fetched from rawURL.
func parseMPDFile(t *testing.T, name, rawURL string) *DASH {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dash", name))
	require.NoError(t, err)
	d, err := ParseMPD(b, mustURL(t, rawURL))
	require.NoError(t, err)
	return d
}

// playlistOf lists variant i of a static MPD.
func playlistOf(t *testing.T, d *DASH, i int, load IndexLoader) *MediaPlaylist {
	t.Helper()
	pl, next, err := d.Playlist(d.Manifest.Variants[i], time.Time{}, load)
	require.NoError(t, err)
	require.True(t, next.IsZero())
	return pl
}

// shortID23 is P2PML 2.3 generateStreamShortId for the inputs the DASH
// vectors exercise (utils/stream.ts@2.3.1), so the Rendition can be checked
// against the real ids without importing pkg/wire.
func shortID23(r Rendition) string {
	codecs := strings.Split(strings.ToLower(r.Codecs), ",")
	for i := range codecs {
		codecs[i] = strings.TrimSpace(codecs[i])
	}
	sort.Strings(codecs)
	w, h := "", ""
	if r.HasResolution {
		w, h = strconv.Itoa(r.Width), strconv.Itoa(r.Height)
	}
	lang := strings.ToLower(r.Language)
	if lang == "und" {
		lang = ""
	}
	if len(lang) > 2 {
		lang = lang[:2]
	}
	fr := r.FrameRate
	if f, err := strconv.ParseFloat(fr, 64); err == nil {
		fr = strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strings.Join([]string{
		jsNumber(r.Bitrate), strings.Join(codecs, ","), w, h, lang,
		strings.Split(r.Channels, "/")[0], strings.ToLower(strings.TrimSpace(r.Name)), fr,
		strings.ToUpper(strings.TrimSpace(r.VideoRange)),
	}, "-")
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestDASHSwarmVectors checks the Shaka cases of shared/vectors/v2 (real
// shaka-player + p2p-media-loader-shaka 2.2.2 and 2.3.x): stream type,
// 2.2 index, 2.3 short id, and every segment's url, start and externalId.
func TestDASHSwarmVectors(t *testing.T) {
	type vecSeg struct {
		ExternalID int64   `json:"externalId"`
		URL        string  `json:"url"`
		Start      float64 `json:"start"`
	}
	type vecStream struct {
		Type     string   `json:"type"`
		Index    any      `json:"index"`
		Segments []vecSeg `json:"segments"`
	}
	var file map[string]map[string][]vecStream
	readJSON(t, "vectors/swarm-vectors.json", &file)
	d := parseMPDFile(t, "tears.mpd", "https://cdn.example.com/vod/tears/manifest.mpd")
	m := d.Manifest
	require.Equal(t, FormatDASH, m.Format)
	require.Equal(t, "https://cdn.example.com/vod/tears/manifest.mpd", m.SwarmBase)
	for _, gen := range []string{"2.2.2", "2.3.1"} {
		streams := file[gen]["dash_shaka"]
		require.Len(t, streams, 2)
		require.Len(t, m.Variants, len(streams))
		for i, want := range streams {
			v := m.Variants[i]
			require.Equal(t, want.Type, string(v.Type))
			if gen == "2.2.2" {
				require.InDelta(t, want.Index, float64(v.Ordinal), 0)
			} else {
				require.Equal(t, want.Index, shortID23(v.Rendition), "%+v", v.Rendition)
			}
			pl := playlistOf(t, d, i, nil)
			require.False(t, pl.Live)
			require.Len(t, pl.Segments, len(want.Segments))
			for j, ws := range want.Segments {
				s := pl.Segments[j]
				require.Equal(t, ws.URL, s.URL)
				require.Equal(t, ws.URL, s.Key)
				require.Equal(t, ws.ExternalID, s.ID)
				require.Equal(t, ws.Start, s.Start)
				require.Nil(t, s.Range)
			}
		}
	}
}

// toFixed3 is JavaScript Number#toFixed(3): the exact value of x rounded
// half up (protocol-v0.6.md section 3).
func toFixed3(x float64) string {
	r := new(big.Rat).SetFloat64(math.Abs(x))
	r.Mul(r, big.NewRat(1000, 1))
	r.Add(r, big.NewRat(1, 2))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	s := n.String()
	for len(s) < 4 {
		s = "0" + s
	}
	out := s[:len(s)-3] + "." + s[len(s)-3:]
	if x < 0 && n.Sign() != 0 {
		out = "-" + out
	}
	return out
}

// TestDASHShaka2Vectors checks P2PML 0.6's Shaka 2.5 DASH ids
// (shared/vectors/v0.6/out/02-shaka-swarm-ids.json): stream.id numbering
// and the toFixed(3) period-relative segment ids.
func TestDASHShaka2Vectors(t *testing.T) {
	var cases []struct {
		Scenario    string `json:"scenario"`
		ManifestURL string `json:"manifestUrl"`
		Streams     []struct {
			ShakaStreamID int    `json:"shakaStreamId"`
			Type          string `json:"type"`
			OriginalID    string `json:"originalId"`
		} `json:"streams"`
		Swarms []struct {
			ShakaStreamID int    `json:"shakaStreamId"`
			StreamSwarmID string `json:"streamSwarmId"`
			First         []struct {
				ID       string `json:"id"`
				URL      string `json:"url"`
				StreamID string `json:"streamId"`
				Sequence string `json:"sequence"`
			} `json:"first_segments"`
		} `json:"swarms"`
	}
	readJSON(t, "dash/v06-shaka-swarm-ids.json", &cases)
	files := map[string]string{
		"DASH: 1 video AdaptationSet (2 Representations) + 1 audio AdaptationSet": "v06-fixture.mpd",
		"DASH with segments.swarmId=\"my-custom-swarm\"":                          "v06-fixture.mpd",
		"DASH variant: text AS + audio AS (no @id) before the video AS (no @id)":  "v06-reordered.mpd",
	}
	checked := 0
	for _, c := range cases {
		name, ok := files[c.Scenario]
		if !ok {
			continue
		}
		t.Run(c.Scenario, func(t *testing.T) {
			d := parseMPDFile(t, name, c.ManifestURL)
			byRep := map[string]Variant{}
			idx := map[string]int{}
			for i, v := range d.Manifest.Variants {
				byRep[v.RepresentationID] = v
				idx[v.RepresentationID] = i
			}
			for _, s := range c.Streams {
				v, ok := byRep[s.OriginalID]
				require.True(t, ok, s.OriginalID)
				require.Equal(t, s.ShakaStreamID, v.ShakaStreamID, s.OriginalID)
				require.Equal(t, s.Type, v.ContentType)
			}
			for _, sw := range c.Swarms {
				for _, f := range sw.First {
					if f.StreamID != "V"+strconv.Itoa(sw.ShakaStreamID) {
						continue // the vectors list other swarms' segments too
					}
					var found bool
					for rep, v := range byRep {
						if v.ShakaStreamID != sw.ShakaStreamID {
							continue
						}
						pl := playlistOf(t, d, idx[rep], nil)
						for _, s := range pl.Segments {
							if s.URL == f.URL {
								found = true
								require.Equal(t, f.Sequence, toFixed3(s.PeriodTime))
								require.Equal(t, sw.ShakaStreamID, s.ShakaStreamID)
							}
						}
					}
					require.True(t, found, f.URL)
					checked++
				}
			}
		})
	}
	require.Positive(t, checked)
}
