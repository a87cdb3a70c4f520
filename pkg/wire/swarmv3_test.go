package wire

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// identityVectorsV3 mirrors testdata/v3/identity.json, the worked examples
// of protocol-v3.md §2.
type identityVectorsV3 struct {
	Manifests []struct {
		Name        string `json:"name"`
		SwarmID     string `json:"swarmId"`
		HLSVariants []struct {
			Bandwidth      string `json:"bandwidth"`
			Resolution     string `json:"resolution"`
			Codecs         string `json:"codecs"`
			IdentityString string `json:"identityString"`
			IdentityHash   string `json:"identityHash"`
			StreamSwarmID  string `json:"streamSwarmId"`
			InfoHash       string `json:"infoHash"`
		} `json:"hlsVariants"`
	} `json:"manifests"`
	Props []struct {
		Name    string     `json:"name"`
		SwarmID string     `json:"swarmId"`
		Type    StreamType `json:"type"`
		Props   struct {
			Bitrate, Codecs, Width, Height, Language, Channels, Name string
		} `json:"props"`
		IdentityString string `json:"identityString"`
		IdentityHash   string `json:"identityHash"`
		InfoHash       string `json:"infoHash"`
	} `json:"props"`
}

func loadIdentityVectorsV3(t *testing.T) identityVectorsV3 {
	t.Helper()
	b, err := os.ReadFile("testdata/v3/identity.json")
	require.NoError(t, err)
	var v identityVectorsV3
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v.Manifests)
	require.NotEmpty(t, v.Props)
	return v
}

func TestIdentityVectorsV3Manifests(t *testing.T) {
	for _, m := range loadIdentityVectorsV3(t).Manifests {
		t.Run(m.Name, func(t *testing.T) {
			var streams []StreamV3
			for _, v := range m.HLSVariants {
				a := HLSVariantAttrsV3{Bandwidth: v.Bandwidth, Resolution: v.Resolution, Codecs: v.Codecs}
				streams = append(streams, StreamV3{Type: Main, Props: HLSVariantPropsV3(a)})
			}
			hashes := IdentityHashesV3(streams)
			for i, v := range m.HLSVariants {
				if v.IdentityString != "" {
					p := streams[i].Props
					p.Bitrate = ""
					require.Equal(t, v.IdentityString, IdentityStringV3(p))
				}
				require.Equal(t, v.IdentityHash, hashes[i])
				id := StreamSwarmIDV3(m.SwarmID, Main, hashes[i])
				if v.StreamSwarmID != "" {
					require.Equal(t, v.StreamSwarmID, id)
				}
				require.Equal(t, v.InfoHash, GenV3.InfoHash(id))
				require.Len(t, GenV3.InfoHash(id), 20)
			}
		})
	}
}

func TestIdentityVectorsV3Props(t *testing.T) {
	for _, tc := range loadIdentityVectorsV3(t).Props {
		t.Run(tc.Name, func(t *testing.T) {
			in := tc.Props
			p := StreamPropsV3{
				Bitrate: in.Bitrate, Codecs: in.Codecs, Width: in.Width, Height: in.Height,
				Language: in.Language, Channels: in.Channels, Name: in.Name,
			}
			require.Equal(t, tc.IdentityString, IdentityStringV3(p))
			require.Equal(t, tc.IdentityHash, IdentityHashV3(p))
			require.Equal(t, tc.InfoHash, GenV3.InfoHash(StreamSwarmIDV3(tc.SwarmID, tc.Type, tc.IdentityHash)))
		})
	}
}

func TestIdentityHashesV3BitrateRule(t *testing.T) {
	v := loadIdentityVectorsV3(t).Props
	needed, example2, audio := v[0], v[1], v[2]

	// Two 640x360 rungs of one codec: only bitrate tells them apart, so both keep it.
	rung := func(bw string) StreamV3 {
		return StreamV3{Type: Main, Props: HLSVariantPropsV3(HLSVariantAttrsV3{
			Bandwidth: bw, Resolution: "640x360", Codecs: "avc1.4d401e,mp4a.40.2",
		})}
	}
	hashes := IdentityHashesV3([]StreamV3{rung("327800"), rung("600000")})
	require.Equal(t, needed.IdentityHash, hashes[0])
	require.NotEqual(t, hashes[0], hashes[1])

	// The rule is per type: a secondary stream hashing like a main one
	// without bitrate does not make either keep it.
	same := StreamPropsV3{Bitrate: "2000000", Codecs: "avc1.64001f", Width: "1280", Height: "720"}
	hashes = IdentityHashesV3([]StreamV3{{Type: Main, Props: same}, {Type: Secondary, Props: same}})
	require.Equal(t, []string{example2.IdentityHash, example2.IdentityHash}, hashes)

	// Audio renditions carry bitrate 0 whatever happens.
	a := HLSAudioPropsV3(HLSAudioAttrsV3{VariantCodecs: "avc1.64001f,mp4a.40.2", Name: "English", Language: "en", Channels: "2"})
	require.Equal(t, []string{audio.IdentityHash}, IdentityHashesV3([]StreamV3{{Type: Secondary, Props: a}}))

	// A media playlist loaded alone: empty properties, bitrate dropped.
	require.Equal(t, IdentityHashV3(StreamPropsV3{}), IdentityHashesV3([]StreamV3{{Type: Main, Props: StreamPropsV3{Bitrate: "0"}}})[0])
	require.Empty(t, IdentityHashesV3(nil))
}

func TestStreamPropsV3FromAttributes(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  StreamPropsV3
		want StreamPropsV3
	}{
		{"hls variant", HLSVariantPropsV3(HLSVariantAttrsV3{
			Bandwidth: "1280000", Resolution: "640x360", Codecs: "mp4a.40.2, avc1.4D401E ,hvc1.1.6.L93.90",
			FrameRate: "30.000", VideoRange: "PQ",
		}), StreamPropsV3{Bitrate: "1280000", Codecs: "avc1.4D401E,hvc1.1.6.L93.90", Width: "640", Height: "360", FrameRate: "30.000", VideoRange: "PQ"}},
		{"hls variant, odd numbers", HLSVariantPropsV3(HLSVariantAttrsV3{Bandwidth: "12abc", Resolution: "x720", Codecs: "mp4a.40.2"}),
			StreamPropsV3{Bitrate: "12", Height: "720"}},
		{"hls variant, unparsable", HLSVariantPropsV3(HLSVariantAttrsV3{Bandwidth: "high", Resolution: "wide"}),
			StreamPropsV3{Bitrate: "NaN", Width: "NaN"}},
		{"hls video rendition", HLSVideoRenditionPropsV3(HLSVariantAttrsV3{Bandwidth: "800000", Resolution: "640x360", Codecs: "avc1.64001e"}, "Angle 2", "en"),
			StreamPropsV3{Bitrate: "800000", Codecs: "avc1.64001e", Width: "640", Height: "360", Name: "Angle 2", Language: "en"}},
		{"hls audio", HLSAudioPropsV3(HLSAudioAttrsV3{VariantCodecs: "avc1.64001e,ec-3,mp4a.40.2", Name: "Dolby", Language: "de", Channels: "16/JOC"}),
			StreamPropsV3{Bitrate: "0", Codecs: "ec-3,mp4a.40.2", Name: "Dolby", Language: "de", Channels: "16/JOC"}},
		{"dash video", DASHVideoPropsV3(DASHRepresentationAttrsV3{ID: "v720", Bandwidth: "2000000", Codecs: "avc1.64001f", Width: "1280", Height: "720", FrameRate: "30000/1001"}),
			StreamPropsV3{Bitrate: "2000000", Codecs: "avc1.64001f", Width: "1280", Height: "720", FrameRate: "29.97002997002997"}},
		{"dash video, integer frame rate", DASHVideoPropsV3(DASHRepresentationAttrsV3{FrameRate: "25"}), StreamPropsV3{FrameRate: "25"}},
		{"dash audio", DASHAudioPropsV3(DASHRepresentationAttrsV3{ID: "a128", Bandwidth: "128000", Codecs: "mp4a.40.2", Lang: "en", Channels: "2"}),
			StreamPropsV3{Bitrate: "0", Codecs: "mp4a.40.2", Language: "en", Channels: "2", Name: "a128"}},
		{"dash audio, channel mask ignored", DASHAudioPropsV3(DASHRepresentationAttrsV3{ID: "a", Channels: "F801"}),
			StreamPropsV3{Bitrate: "0", Name: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.got)
		})
	}
}

func TestCodecClassesV3(t *testing.T) {
	require.Equal(t, "av01.0.08M.08,avc3.640028,vp09.00.10.08,vp8,hev1.1,theora,mp4v.20.9,AVC1.4d401e",
		VideoCodecsV3("av01.0.08M.08,avc3.640028,vp09.00.10.08,vp8,hev1.1,theora,mp4v.20.9,AVC1.4d401e,mp4a.40.2,avc5.1,stpp.ttml.im1t"))
	require.Equal(t, "mp4a.40.2,ac-3,ac-4.02.01.01,ec-3,opus,flac,alac,mp3,speex,aac,vorbis",
		AudioCodecsV3("avc1.64001f,mp4a.40.2,ac-3,ac-4.02.01.01,ec-3,opus,flac,alac,mp3,speex,aac,vorbis,wvtt"))
	require.Empty(t, VideoCodecsV3(""))
	require.Empty(t, AudioCodecsV3("avc1.64001f"))
}

func TestSwarmIDV3(t *testing.T) {
	require.Equal(t, "https://cdn.example.com/live/master.m3u8", SwarmIDV3("https://cdn.example.com/live/master.m3u8?token=a?b"))
	require.Equal(t, "https://cdn.example.com/a.mpd#x", SwarmIDV3("https://cdn.example.com/a.mpd#x"))
	require.Equal(t, "v3-https://example.com/master.m3u8-secondary-h", StreamSwarmIDV3("https://example.com/master.m3u8", Secondary, "h"))
}

func TestSegmentIDsV3(t *testing.T) {
	require.Equal(t, int64(1000), SegmentIDHLSV3(1000, 0))
	require.Equal(t, int64(1004), SegmentIDHLSV3(1000, 4))
	for _, tc := range []struct {
		t    float64
		want int64
	}{
		{0, 0}, {4, 40}, {8, 80}, {0.04, 0}, {0.05, 1}, {0.15, 2}, {1.25, 13},
		{3.9999999, 40}, {-0.05, 0}, {-0.25, -2}, {-0.26, -3},
		{0.049999999999999996, 0}, {1e15, 1e16}, {math.NaN(), 0},
		{(1000 + 3003) / 30000.0 * 1, 1}, // a 29.97 fps frame boundary
	} {
		require.Equal(t, tc.want, SegmentIDDASHV3(tc.t), "t=%v", tc.t)
	}
}

func TestJSParseV3(t *testing.T) {
	for in, want := range map[string]string{"42": "42", " -7x": "-7", "-0": "0", "+3": "3", "": "NaN", "x1": "NaN", "1e3": "1"} {
		require.Equal(t, want, jsParseInt(in), "parseInt(%q)", in)
	}
	for in, want := range map[string]string{"30.000": "30", "29.97": "29.97", " 1e2fps": "100", ".5": "0.5", "5.": "5", "-Infinityx": "-Infinity", "e5": "NaN", "1e": "1", "": "NaN"} {
		require.Equal(t, want, jsParseFloat(in), "parseFloat(%q)", in)
	}
	require.Equal(t, "Infinity", divisionValue("1/0"))
	require.Equal(t, "NaN", divisionValue("a/2"))
}
