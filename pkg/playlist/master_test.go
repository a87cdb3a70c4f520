package playlist

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMasterStreamInf: P2PML 0.6 numbers variants by their EXT-X-STREAM-INF
// position in the whole master, while 2.2 counts hls.js levels after it
// dropped those with unknown codecs; audio tracks get no 0.6 position.
func TestMasterStreamInf(t *testing.T) {
	u, err := url.Parse("https://o.example/live/master.m3u8?token=1")
	require.NoError(t, err)
	m, err := ParseMaster([]byte(`#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="a/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=100,CODECS="avc1.42e00a,mp4a.40.2",AUDIO="a"
v0.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=200,CODECS="nonsense.1"
v1.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=300,CODECS="avc1.42e00a,mp4a.40.2",AUDIO="a"
v2.m3u8
`), u)
	require.NoError(t, err)
	require.False(t, m.MediaOnly)
	var got [][3]any
	for _, v := range m.Variants {
		got = append(got, [3]any{v.URL, v.Ordinal, v.StreamInf})
	}
	require.Equal(t, [][3]any{
		{"https://o.example/live/v0.m3u8", 0, 0},
		{"https://o.example/live/v2.m3u8", 1, 2},
		{"https://o.example/live/a/en.m3u8", 0, -1},
	}, got)

	m, err = ParseMaster([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ns.ts\n"), u)
	require.NoError(t, err)
	require.True(t, m.MediaOnly)
	require.Len(t, m.Variants, 1)
}
