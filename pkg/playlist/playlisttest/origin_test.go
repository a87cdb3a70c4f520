package playlisttest

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func get(t *testing.T, c *http.Client, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestOriginLiveWindow(t *testing.T) {
	o := NewOrigin()
	defer o.Close()
	m := o.AddMedia("/live/index.m3u8", MediaOptions{Live: true, Segments: 3, Duration: 6, MediaSequence: 10})

	_, body := get(t, o.Client(), m.URL())
	require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:10\n"+
		"#EXTINF:6.000,\nseg10.ts\n#EXTINF:6.000,\nseg11.ts\n#EXTINF:6.000,\nseg12.ts\n", string(body))

	o.Advance()
	first, last := m.Window()
	require.Equal(t, [2]int64{11, 13}, [2]int64{first, last})
	m.End()
	o.Advance() // ended: no longer moves
	_, body = get(t, o.Client(), m.URL())
	require.True(t, strings.HasSuffix(string(body), "seg13.ts\n#EXT-X-ENDLIST\n"), string(body))
	require.Contains(t, string(body), "#EXT-X-MEDIA-SEQUENCE:11\n")

	resp, seg := get(t, o.Client(), m.SegmentURL(10)) // left the window, still served
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, m.SegmentData(10), seg)
	require.Len(t, seg, 1000)
	require.NotEqual(t, m.SegmentData(10), m.SegmentData(11))
	resp, _ = get(t, o.Client(), o.URL+"/live/seg14.ts") // not published yet
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, 2, o.Requests("/live/index.m3u8"))
}

func TestOriginByteRangeAndFaults(t *testing.T) {
	o := NewOrigin()
	defer o.Close()
	m := o.AddMedia("/br/index.m3u8", MediaOptions{Segments: 3, SegmentSize: 100, ByteRange: true})
	_, body := get(t, o.Client(), m.URL())
	require.Contains(t, string(body), "#EXT-X-BYTERANGE:100@0\nall.ts\n#EXTINF:4.000,\n#EXT-X-BYTERANGE:100\nall.ts\n")
	require.True(t, strings.HasSuffix(string(body), "#EXT-X-ENDLIST\n"))

	resp, part := get(t, o.Client(), m.SegmentURL(1), "Range", "bytes=100-199")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, m.SegmentData(1), part)

	o.IgnoreRange("/br/all.ts")
	resp, whole := get(t, o.Client(), m.SegmentURL(1), "Range", "bytes=100-199")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, whole, 300)

	o.Fail("/br/index.m3u8", http.StatusServiceUnavailable, 1)
	resp, _ = get(t, o.Client(), m.URL())
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	resp, _ = get(t, o.Client(), m.URL())
	require.Equal(t, http.StatusOK, resp.StatusCode)

	o.SetFile("/f.ts", []byte("0123456789"))
	o.Truncate("/f.ts", 1)
	resp, err := o.Client().Get(o.URL + "/f.ts")
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.NoError(t, resp.Body.Close())
	resp, data := get(t, o.Client(), o.URL+"/f.ts")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "0123456789", string(data))

	o.Redirect("/a.m3u8", "/f.ts?x=1")
	resp, data = get(t, o.Client(), o.URL+"/a.m3u8")
	require.Equal(t, o.URL+"/f.ts?x=1", resp.Request.URL.String())
	require.Equal(t, "0123456789", string(data))
	require.Equal(t, 1, o.Requests("/a.m3u8"))
	require.Equal(t, 3, o.Requests("/f.ts"))
}
