//go:build interop

package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOriginLiveWindow checks the origin's live simulation without a browser: the sliding window,
// media and discontinuity sequence numbers, the wrap, and that live segment URLs carry VOD bytes.
func TestOriginLiveWindow(t *testing.T) {
	requireTools(t)
	media := ensureMedia(t, DefaultMediaSpec())
	o := newOrigin(t, media, OriginOptions{LiveWindow: 6})
	v := media.Variant("360p")
	require.NotNil(t, v)
	n := len(v.Segments) // 30
	segDur := time.Duration(v.Segments[0].Duration * float64(time.Second))

	tests := []struct {
		name          string
		elapsed       time.Duration
		wantPublished int
		wantFirst     int
		wantDiscSeq   int
		wantDisc      int // EXT-X-DISCONTINUITY tags in the window
	}{
		{"start with full window", 0, 6, 0, 0, 0},
		{"just before the next segment", segDur - time.Millisecond, 6, 0, 0, 0},
		{"one segment later", segDur, 7, 1, 0, 0},
		{"wrap inside the window", time.Duration(n-3) * segDur, n + 3, n - 3, 0, 1},
		{"wrap at the window start", time.Duration(n) * segDur, n + 6, n, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			published := o.published(o.start.Add(tc.elapsed))
			require.Equal(t, tc.wantPublished, published)
			pl := o.livePlaylist(v, published)
			require.Contains(t, pl, fmt.Sprintf("#EXT-X-MEDIA-SEQUENCE:%d\n", tc.wantFirst))
			require.Contains(t, pl, fmt.Sprintf("#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", tc.wantDiscSeq))
			require.Equal(t, tc.wantDisc, strings.Count(pl, "#EXT-X-DISCONTINUITY\n"))
			require.Equal(t, min(published, 6), strings.Count(pl, "#EXTINF:"))
			require.Contains(t, pl, fmt.Sprintf("seg-%d.ts\n", published-1))
			require.NotContains(t, pl, "#EXT-X-ENDLIST")
		})
	}

	t.Run("http", func(t *testing.T) {
		get := func(path string) (int, []byte) {
			resp, err := http.Get(o.URL + path)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, body
		}
		code, body := get("/live/360p/index.m3u8")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, string(body), "#EXT-X-MEDIA-SEQUENCE:")
		code, body = get("/live/master.m3u8")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, string(body), "360p/index.m3u8")
		code, body = get("/live/360p/seg-5.ts")
		require.Equal(t, http.StatusOK, code)
		sum := sha256.Sum256(body)
		want, ok := o.ExpectedSHA256(o.URL + "/live/360p/seg-5.ts")
		require.True(t, ok)
		require.Equal(t, v.Segments[5].SHA256, want)
		require.Equal(t, want, hex.EncodeToString(sum[:]))
		code, _ = get("/live/360p/seg-1000.ts") // not published yet
		require.Equal(t, http.StatusNotFound, code)
		require.Equal(t, v.Segments[5].Size, o.SegmentBytes("/live/360p/"))
	})
}

// TestBrowserBaselineLive: two browsers (P2PML 2.3.1, live profile) watch the live simulation 5 s
// apart, with no seed. Both play and every fragment is byte-identical to the origin; the P2P share is
// reported, not asserted (browser-testing.md measured 58 % with 4 viewers).
func TestBrowserBaselineLive(t *testing.T) {
	env := newEnv(t)
	url := env.PlayerURL(PlayerParams{Src: env.Origin.LiveMaster(), Live: true, Level: "1"})
	res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 2, 5*time.Second, 30*time.Second)})
	logViewers(t, env.Origin, res)
	for i, v := range res.Viewers {
		s := v.Stats
		requirePlayed(t, env.Origin, i, s)
		require.NotEmpty(t, s.ConnectedPeers(), "viewer %d connected to no peer", i)
	}
}
