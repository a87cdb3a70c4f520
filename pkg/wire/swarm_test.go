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

// shortIDVector is one case of testdata/v2/shortid-vectors.json: the input
// object handed to the real generateStreamShortId of core 2.3.1.
type shortIDVector struct {
	Name  string `json:"name"`
	Input struct {
		Bitrate    json.RawMessage `json:"bitrate"`
		Codecs     string          `json:"codecs"`
		Width      *int            `json:"width"`
		Height     *int            `json:"height"`
		Language   string          `json:"language"`
		Channels   json.RawMessage `json:"channels"`
		Name       string          `json:"name"`
		FrameRate  json.RawMessage `json:"frameRate"`
		VideoRange string          `json:"videoRange"`
	} `json:"input"`
	CanonicalString string `json:"canonicalString"`
	ShortID         string `json:"shortId"`
}

// props converts the JavaScript input object as a player integration would:
// numbers for frame rate and channels arrive formatted as JavaScript prints them.
func (v shortIDVector) props(t *testing.T) StreamProps {
	t.Helper()
	in := v.Input
	p := StreamProps{Codecs: in.Codecs, Language: in.Language, Name: in.Name, VideoRange: in.VideoRange}
	switch text := jsValueText(t, in.Bitrate); text {
	case "":
	case "NaN":
		p.Bitrate = math.NaN()
	default:
		f, err := strconv.ParseFloat(text, 64)
		require.NoError(t, err)
		p.Bitrate = f
	}
	if in.Width != nil && in.Height != nil {
		p.Width, p.Height, p.HasSize = *in.Width, *in.Height, true
	}
	p.Channels = jsValueText(t, in.Channels)
	p.FrameRate = jsValueText(t, in.FrameRate)
	return p
}

// jsValueText returns a JSON string's text, or a JSON number printed as JavaScript prints it.
func jsValueText(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	require.NoError(t, err)
	return FormatJSNumber(f)
}

func loadShortIDVectors(t *testing.T) []shortIDVector {
	t.Helper()
	b, err := os.ReadFile("testdata/v2/shortid-vectors.json")
	require.NoError(t, err)
	var v []shortIDVector
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v)
	return v
}

func TestShortIDVectors(t *testing.T) {
	for _, v := range loadShortIDVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			p := v.props(t)
			require.Equal(t, v.CanonicalString, ShortIDString(p))
			require.Equal(t, v.ShortID, ShortID(p))
		})
	}
}

// swarmVector is one stream of testdata/v2/swarm-vectors.json, produced by
// the real hls.js/shaka parsers feeding the real P2P Media Loader core.
type swarmVector struct {
	Type           string          `json:"type"`
	Index          json.RawMessage `json:"index"`
	StreamSwarmID  string          `json:"streamSwarmId"`
	InfoHashString string          `json:"infoHashString"`
	InfoHashHex    string          `json:"infoHashHex"`
}

func TestSwarmVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/v2/swarm-vectors.json")
	require.NoError(t, err)
	var all map[string]map[string][]swarmVector
	require.NoError(t, json.Unmarshal(b, &all))

	shortIDs := map[string]StreamProps{}
	for _, v := range loadShortIDVectors(t) {
		shortIDs[v.ShortID] = v.props(t)
	}

	gens := map[string]Generation{"2.2.2": Gen22, "2.3.1": Gen23}
	checked23 := 0
	for version, cases := range all {
		gen, ok := gens[version]
		require.True(t, ok, "unexpected version %s", version)
		for name, streams := range cases {
			require.NotEmpty(t, streams)
			for _, s := range streams {
				t.Run(version+"/"+name+"/"+s.StreamSwarmID, func(t *testing.T) {
					require.Equal(t, s.InfoHashString, gen.InfoHash(s.StreamSwarmID))
					require.Equal(t, s.InfoHashHex, hex.EncodeToString([]byte(gen.InfoHash(s.StreamSwarmID))))

					// The id is "v2-{base}-{type}-{index}"; rebuild it from its parts.
					suffix := "-" + s.Type + "-"
					cut := strings.LastIndex(s.StreamSwarmID, suffix)
					require.Positive(t, cut)
					base := strings.TrimPrefix(s.StreamSwarmID[:cut], PeerProtocolVersion+"-")
					typ := StreamType(s.Type)
					switch gen {
					case Gen22:
						var ordinal int
						require.NoError(t, json.Unmarshal(s.Index, &ordinal))
						require.Equal(t, s.StreamSwarmID, StreamSwarmID22(base, typ, ordinal))
					case Gen23:
						var index string
						require.NoError(t, json.Unmarshal(s.Index, &index))
						if p, ok := shortIDs[index]; ok {
							require.Equal(t, s.StreamSwarmID, StreamSwarmID23(base, typ, p))
							checked23++
						}
					}
				})
			}
		}
	}
	require.Positive(t, checked23, "some 2.3 streams are rebuilt from their properties")
}

func TestWorkedExamples(t *testing.T) {
	// protocol-v2.md §1.3.
	require.Equal(t, "4Qkb0LjmxEJz/mMBrq53",
		Gen23.InfoHash("v2-https://cdn.example.com/vod/bbb/master.m3u8-main-cpNaOfbW48j1w2yYNbCuOSW9raU="))
	require.Equal(t, "pzl/pJMtOjWFGQpCuI/v",
		Gen22.InfoHash(StreamSwarmID22("https://cdn.example.com/vod/bbb/master.m3u8", Main, 0)))
}

func TestShortIDEdgeCases(t *testing.T) {
	// Produced by the real generateStreamShortId (testdata/gen/shortid-extra.mjs).
	b, err := os.ReadFile("testdata/v2/shortid-extra.json")
	require.NoError(t, err)
	var file struct {
		Cases []shortIDVector `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(b, &file))
	require.NotEmpty(t, file.Cases)
	for _, v := range file.Cases {
		t.Run(v.Name, func(t *testing.T) {
			require.Equal(t, v.ShortID, ShortID(v.props(t)))
		})
	}
}

func TestFormatJSNumber(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0", 30: "30", 29.97: "29.97", 30000.0 / 1001: "29.97002997002997", 1e21: "1e+21",
		1e-7: "1e-7", 0.000001: "0.000001", -2.5: "-2.5", 1280000: "1280000", 123456789012: "123456789012",
	} {
		require.Equal(t, want, FormatJSNumber(f), "%v", f)
	}
}
