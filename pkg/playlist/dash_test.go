package playlist

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var updateDASH = flag.Bool("update-dash", false, "rewrite testdata/dash/golden/*.txt (files this package produces)")

// fileIndexLoader serves SegmentBase index ranges from testdata/dash/single.
func fileIndexLoader(t *testing.T) IndexLoader {
	return func(u string, r ByteRange) ([]byte, error) {
		name := u[strings.LastIndexByte(u, '/')+1:]
		b, err := os.ReadFile(filepath.Join("testdata", "dash", "single", name))
		require.NoError(t, err)
		if r.End >= int64(len(b)) {
			return nil, fmt.Errorf("range %d-%d past %d bytes", r.Start, r.End, len(b))
		}
		return b[r.Start : r.End+1], nil
	}
}

// renderDASH writes every variant and segment of d at now as text.
func renderDASH(t *testing.T, d *DASH, now time.Time) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "format=%s dynamic=%v swarm_base=%s\n", d.Manifest.Format, d.Dynamic, d.Manifest.SwarmBase)
	for i, v := range d.Manifest.Variants {
		r := v.Rendition
		fmt.Fprintf(&b, "variant %d: %s/%d %s rep=%q shaka2=%d bitrate=%s codecs=%q res=%v:%dx%d fr=%q range=%q lang=%q ch=%q name=%q\n",
			i, v.Type, v.Ordinal, v.ContentType, v.RepresentationID, v.ShakaStreamID, jsNumber(r.Bitrate), r.Codecs,
			r.HasResolution, r.Width, r.Height, r.FrameRate, r.VideoRange, r.Language, r.Channels, r.Name)
		pl, next, err := d.Playlist(v, now, fileIndexLoader(t))
		require.NoError(t, err)
		fmt.Fprintf(&b, "  live=%v target=%v msn=%d next=%s\n", pl.Live, pl.TargetDuration, pl.MediaSequence, fmtTime(next))
		for _, s := range pl.Segments {
			rng := "-"
			if s.Range != nil {
				rng = strconv.FormatInt(s.Range.Start, 10) + "-" + strconv.FormatInt(s.Range.End, 10)
			}
			fmt.Fprintf(&b, "  id=%d start=%s dur=%s period=%s v06=%s+%s n=%d %s %s key=%s\n", s.ID,
				strconv.FormatFloat(s.Start, 'f', -1, 64), strconv.FormatFloat(s.Duration, 'f', -1, 64),
				strconv.FormatFloat(s.PeriodStart, 'f', -1, 64), "V"+strconv.Itoa(s.ShakaStreamID), toFixed3(s.PeriodTime),
				s.Sequence, s.URL, rng, s.Key)
		}
	}
	return b.String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// TestDASHCorpus renders each MPD of the corpus and compares it with its
// golden file. The goldens were checked by hand against the Shaka rules
// quoted in dash_segments.go; run with -update-dash after a deliberate
// change and review the diff.
func TestDASHCorpus(t *testing.T) {
	liveNow := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC) // 800 s after availabilityStartTime
	cases := []struct {
		file, url string
		now       time.Time
	}{
		{"number.mpd", "https://origin.example.com/vod/number.mpd", time.Time{}},
		{"timeline.mpd", "https://origin.example.com/vod/timeline.mpd", time.Time{}},
		{"multiperiod.mpd", "https://origin.example.com/vod/mp.mpd", time.Time{}},
		{"single/base.mpd", "https://origin.example.com/vod/single/base.mpd", time.Time{}},
		{"single/list-ffmpeg.mpd", "https://origin.example.com/vod/single/list.mpd", time.Time{}},
		{"live-number.mpd", "https://live.example.com/channel/manifest.mpd?token=x", liveNow},
		{"tears.mpd", "https://cdn.example.com/vod/tears/manifest.mpd", time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d := parseMPDFile(t, c.file, c.url)
			got := renderDASH(t, d, c.now)
			golden := filepath.Join("testdata", "dash", "golden", strings.ReplaceAll(c.file, "/", "_")+".txt")
			if *updateDASH {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), got)
		})
	}
}

// TestParseMPDErrors checks that hostile or unsupported MPDs fail with the
// package's errors, quickly and without large allocations.
func TestParseMPDErrors(t *testing.T) {
	const head = `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S">`
	asv := func(inner string) string {
		return head + `<Period><AdaptationSet contentType="video">` + inner + `</AdaptationSet></Period></MPD>`
	}
	cases := []struct {
		name, body string
		parseErr   error // from ParseMPD, or nil
		listErr    error // from Playlist
	}{
		{"not xml", "#EXTM3U", ErrMalformed, nil},
		{"truncated", head + `<Period`, ErrMalformed, nil},
		{"no period", head + `</MPD>`, ErrMalformed, nil},
		{"no streams", head + `<Period><AdaptationSet contentType="text"><Representation id="t"/></AdaptationSet></Period></MPD>`, ErrMalformed, nil},
		{"xlink period", head + `<Period xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="https://x/p"/></MPD>`, ErrUnsupported, nil},
		{"dynamic without ast", `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"><Period/></MPD>`, ErrMalformed, nil},
		{"template without media", asv(`<SegmentTemplate duration="1"/><Representation id="v"/>`), ErrMalformed, nil},
		{"huge repeat", asv(`<SegmentTemplate media="$Time$"><SegmentTimeline><S t="0" d="1" r="2000000000"/></SegmentTimeline></SegmentTemplate><Representation id="v"/>`), nil, ErrTooLarge},
		{"huge r=-1", asv(`<SegmentTemplate media="$Time$" timescale="1000000000"><SegmentTimeline><S t="0" d="1" r="-1"/></SegmentTimeline></SegmentTemplate><Representation id="v"/>`), nil, ErrTooLarge},
		{"too many numbers", asv(`<SegmentTemplate media="$Number$" timescale="1000000" duration="1"/><Representation id="v"/>`), nil, ErrTooLarge},
		{"time above 2^53", asv(`<SegmentTemplate media="$Time$"><SegmentTimeline><S t="18014398509481984" d="1"/></SegmentTimeline></SegmentTemplate><Representation id="v"/>`), nil, ErrUnsupported},
		{"segment base without index", asv(`<Representation id="v"><SegmentBase/></Representation>`), ErrMalformed, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := ParseMPD([]byte(c.body), mustURL(t, "https://a.example/m.mpd"))
			if c.parseErr != nil {
				require.ErrorIs(t, err, c.parseErr)
				return
			}
			require.NoError(t, err)
			_, _, err = d.Playlist(d.Manifest.Variants[0], time.Time{}, nil)
			require.ErrorIs(t, err, c.listErr)
		})
	}
}
