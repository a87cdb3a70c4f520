package wire

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// segment06 is one queued segment the 0.6 integrations reported in
// testdata/v0.6/01-hlsjs-swarm-ids.json and 02-shaka-swarm-ids.json.
type segment06 struct {
	ID            string `json:"id"`
	MasterSwarmID string `json:"masterSwarmId"`
	StreamID      string `json:"streamId"` // "V<n>", or absent without a master playlist
	Sequence      string `json:"sequence"` // the short id
}

// swarm06 is one stream swarm the real 0.6.2 bundles joined.
type swarm06 struct {
	StreamSwarmID string      `json:"streamSwarmId"`
	HashInput     string      `json:"infoHash_input_string"`
	InfoHashHex   string      `json:"infoHash_expected_sha1_hex"`
	OnWireHex     string      `json:"info_hash_on_wire_hex"` // Shaka only
	InfoHashOK    bool        `json:"infoHash_matches"`
	FirstSegments []segment06 `json:"first_segments"`
	// Shaka only: the stream and its first segment's reference.
	ShakaStreamID   int     `json:"shakaStreamId"`
	SegmentStart    float64 `json:"segmentStartTime"`
	SegmentPosition int64   `json:"segmentPosition"`
}

type scenario06 struct {
	Scenario    string `json:"scenario"`
	ManifestURL string `json:"manifestUrl"` // Shaka only
	Settings    struct {
		SwarmID string `json:"swarmId"`
	} `json:"segmentsSettings"`
	Streams []struct {
		ShakaStreamID int    `json:"shakaStreamId"`
		Type          string `json:"type"`
		Position      int    `json:"getPosition"`
	} `json:"streams"`
	Swarms []swarm06 `json:"swarms"`
}

func loadScenarios06(t *testing.T, name string) []scenario06 {
	t.Helper()
	b, err := os.ReadFile("testdata/v0.6/" + name)
	require.NoError(t, err)
	var v []scenario06
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v)
	return v
}

// checkSwarm06 checks the info hash of a swarm and the ids of its own
// segments (the queue also lists segments of other variants).
func checkSwarm06(t *testing.T, master string, w swarm06) int {
	t.Helper()
	require.True(t, w.InfoHashOK)
	require.Equal(t, PeerProtocolVersion06+w.StreamSwarmID, w.HashInput)
	require.Equal(t, w.InfoHashHex, hex.EncodeToString([]byte(Gen06.InfoHash(w.StreamSwarmID))))
	if w.OnWireHex != "" {
		require.Equal(t, w.OnWireHex, w.InfoHashHex)
	}
	own := 0
	for _, s := range w.FirstSegments {
		require.Equal(t, master, s.MasterSwarmID)
		swarm := s.MasterSwarmID
		if s.StreamID != "" {
			v, err := strconv.Atoi(strings.TrimPrefix(s.StreamID, "V"))
			require.NoError(t, err)
			swarm = StreamSwarmID06(s.MasterSwarmID, v)
		}
		require.Equal(t, s.ID, SegmentID06(swarm, s.Sequence))
		gotSwarm, short, ok := SplitSegmentID06(s.ID)
		require.True(t, ok)
		require.Equal(t, swarm, gotSwarm)
		require.Equal(t, s.Sequence, short)
		if swarm == w.StreamSwarmID {
			own++
		}
	}
	require.NotZero(t, own, "no segment of swarm %s listed", w.StreamSwarmID)
	return own
}

// The hls.js cases of protocol-v0.6.md §2.4. The vector file names neither
// the master URL nor the media playlist URL, so they come from the vector
// fixtures (shared/vectors/v0.6/lib/fixtures.js, §2.4).
func TestHLSJSSwarmIDs06(t *testing.T) {
	urls := map[string]string{
		"A": "https://example.com/live/master.m3u8?token=abc123",
		"B": "https://example.com/live/master.m3u8?token=abc123",
		"C": "https://example.com/live/chunklist.m3u8?wmsAuthSign=q",
		"D": "https://example.com/live/master.m3u8?token=abc123",
	}
	seen := map[string]bool{}
	for _, sc := range loadScenarios06(t, "01-hlsjs-swarm-ids.json") {
		t.Run(sc.Scenario, func(t *testing.T) {
			key, _, _ := strings.Cut(sc.Scenario, ":")
			u, ok := urls[key]
			require.True(t, ok, "unknown scenario")
			seen[key] = true
			master := MasterSwarmID06(u)
			if sc.Settings.SwarmID != "" {
				master = sc.Settings.SwarmID
			}
			require.NotEmpty(t, sc.Swarms)
			for i, w := range sc.Swarms {
				if key == "C" {
					// No master playlist: the media playlist URL cut at '?' is the swarm.
					require.Equal(t, master, w.StreamSwarmID)
				} else {
					require.Equal(t, StreamSwarmID06(master, i), w.StreamSwarmID)
				}
				checkSwarm06(t, master, w)
				// hls.js short ids are media sequence numbers.
				for _, s := range w.FirstSegments {
					seq, err := strconv.ParseInt(s.Sequence, 10, 64)
					require.NoError(t, err)
					require.Equal(t, s.Sequence, ShortIDFromSequence(seq))
				}
			}
		})
	}
	require.Len(t, seen, len(urls))
}

// The Shaka cases of protocol-v0.6.md §2.4: DASH swarms are named after
// Shaka's stream.id, HLS swarms after the stream's position.
func TestShakaSwarmIDs06(t *testing.T) {
	for _, sc := range loadScenarios06(t, "02-shaka-swarm-ids.json") {
		t.Run(sc.Scenario, func(t *testing.T) {
			master := MasterSwarmID06(sc.ManifestURL)
			// This file records no segmentsSettings; the setting is only
			// named in the scenario title.
			if _, rest, ok := strings.Cut(sc.Scenario, `segments.swarmId="`); ok {
				master, _, _ = strings.Cut(rest, `"`)
			}
			isHLS := strings.HasSuffix(MasterSwarmID06(sc.ManifestURL), ".m3u8")
			position := map[int]int{}
			for _, s := range sc.Streams {
				position[s.ShakaStreamID] = s.Position
			}
			require.NotEmpty(t, sc.Swarms)
			for _, w := range sc.Swarms {
				variant := w.ShakaStreamID
				if isHLS {
					variant = position[w.ShakaStreamID]
				}
				require.Equal(t, StreamSwarmID06(master, variant), w.StreamSwarmID)
				checkSwarm06(t, master, w)
				for _, s := range w.FirstSegments {
					if isHLS {
						seq, err := strconv.ParseInt(s.Sequence, 10, 64)
						require.NoError(t, err)
						require.Equal(t, s.Sequence, ShortIDFromSequence(seq))
						continue
					}
					// DASH: toFixed(3) of the start time; these are 4 s segments.
					f, err := strconv.ParseFloat(s.Sequence, 64)
					require.NoError(t, err)
					require.Equal(t, s.Sequence, FormatToFixed3(f))
				}
				if isHLS {
					require.Equal(t, ShortIDFromSequence(w.SegmentPosition), shortOf(t, w, w.StreamSwarmID))
				} else {
					require.Equal(t, FormatToFixed3(w.SegmentStart), shortOf(t, w, w.StreamSwarmID))
				}
			}
		})
	}
}

// shortOf returns the short id of the first listed segment of swarm.
func shortOf(t *testing.T, w swarm06, swarm string) string {
	t.Helper()
	for _, s := range w.FirstSegments {
		if got, short, _ := SplitSegmentID06(s.ID); got == swarm {
			return short
		}
	}
	t.Fatalf("no segment of %s", swarm)
	return ""
}

// The info hashes of 04-wire-vectors.json, also in the tracker's JSON form.
func TestInfoHash06WireVectors(t *testing.T) {
	v := loadWireVectors06(t)
	require.NotEmpty(t, v.InfoHashes)
	for _, h := range v.InfoHashes {
		t.Run(h.StreamSwarmID, func(t *testing.T) {
			require.Equal(t, PeerProtocolVersion06+h.StreamSwarmID, h.SHA1Input)
			ih := Gen06.InfoHash(h.StreamSwarmID)
			require.Len(t, ih, 20)
			require.Equal(t, h.Hex, hex.EncodeToString([]byte(ih)))
			require.Equal(t, h.JSONString, string(AppendJSONString(nil, ih, true)))
			require.Equal(t, h.JSONUTF8Hex, hex.EncodeToString(AppendJSONString(nil, ih, true)))
		})
	}
	require.Equal(t, v.RealClient.Hex, hex.EncodeToString([]byte(Gen06.InfoHash(v.RealClient.StreamSwarmID))))
}

func TestMasterSwarmID06(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com/live/master.m3u8?token=abc123": "https://example.com/live/master.m3u8",
		"https://example.com/a.m3u8?x=1?y=2":                "https://example.com/a.m3u8",
		"https://example.com/a.m3u8#frag":                   "https://example.com/a.m3u8#frag",
		"https://example.com/a.m3u8#frag?x":                 "https://example.com/a.m3u8#frag",
		"HTTPS://Example.COM:443/a.m3u8":                    "HTTPS://Example.COM:443/a.m3u8",
		"?only":                                             "",
	} {
		require.Equal(t, want, MasterSwarmID06(in), in)
	}
}

func TestSplitSegmentID06(t *testing.T) {
	_, _, ok := SplitSegmentID06("no-plus")
	require.False(t, ok)
	swarm, short, ok := SplitSegmentID06("a+b+V0+12")
	require.True(t, ok)
	require.Equal(t, "a+b+V0", swarm)
	require.Equal(t, "12", short)
	require.Equal(t, "-5", ShortIDFromSequence(-5))
}

// tofixed.json is written by testdata/gen/tofixed.mjs from node's toFixed(3).
func TestFormatToFixed3Node(t *testing.T) {
	b, err := os.ReadFile("testdata/v0.6/tofixed.json")
	require.NoError(t, err)
	var v struct {
		Cases []struct {
			Bits  string `json:"bits"`
			Fixed string `json:"fixed"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(b, &v))
	require.Greater(t, len(v.Cases), 1000)
	for _, c := range v.Cases {
		u, err := strconv.ParseUint(c.Bits, 16, 64)
		require.NoError(t, err)
		x := math.Float64frombits(u)
		require.Equal(t, c.Fixed, FormatToFixed3(x), "x=%v bits=%s", x, c.Bits)
	}
}

func TestFormatToFixed3(t *testing.T) {
	for _, tc := range []struct {
		x    float64
		want string
	}{
		{0.0625, "0.063"}, // FormatFloat gives 0.062
		{-0.0625, "-0.063"},
		{math.Copysign(0, -1), "0.000"},
		{-0.0004, "-0.000"},
		{4, "4.000"},
		{1e21, "1e+21"},
		{-1e21, "-1e+21"},
		{1e20, "100000000000000000000.000"},
		{math.NaN(), "NaN"},
		{math.Inf(-1), "-Infinity"},
		{5e-324, "0.000"},
	} {
		require.Equal(t, tc.want, FormatToFixed3(tc.x), "%v", tc.x)
	}
	require.Equal(t, "0.062", strconv.FormatFloat(0.0625, 'f', 3, 64), "Go rounds ties to even")
}
