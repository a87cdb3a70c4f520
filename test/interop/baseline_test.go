//go:build interop

package interop

import (
	"testing"
	"time"
)

// TestBrowserBaselineVOD: two browsers (P2PML 2.3.1) watch the VOD 5 s apart, with no seed. Both play,
// the second gets bytes over P2P from the first, and every fragment is byte-identical to the origin.
func TestBrowserBaselineVOD(t *testing.T) {
	testBaselineVOD(t, P2PML231, "-PM0203-")
}

// TestBrowserBaselineVOD22 is TestBrowserBaselineVOD with P2PML 2.2.2.
func TestBrowserBaselineVOD22(t *testing.T) {
	testBaselineVOD(t, P2PML222, "-PM0202-")
}

func testBaselineVOD(t *testing.T, version, peerIDPrefix string) {
	env := newEnv(t)
	url := env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: version, Level: "1"}) // 360p only
	res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 2, 5*time.Second, 30*time.Second)})
	logViewers(t, env.Origin, res)

	requireP2PPair(t, env, res, version, peerIDPrefix)
}

// logViewers prints the measured figures of a run.
func logViewers(t testing.TB, o *Origin, res Result) {
	t.Helper()
	var http, p2p int64
	for i, v := range res.Viewers {
		s := v.Stats
		http += s.Bytes.HTTP
		p2p += s.Bytes.P2P
		var firstPlaying int64 = -1
		if s.Playback.FirstPlayingMs != nil {
			firstPlaying = *s.Playback.FirstPlayingMs
		}
		t.Logf("viewer %d (P2PML %s, hls.js %s): http %d B, p2p %d B (%.1f %%), uploaded %d B, p2p by peer %v, peers %v, segments %d, frags %d, first playing %d ms, played %.1f s (currentTime %.1f s, real-time factor %.2f), stalls %d, buffer-stalled errors %d, errors %d",
			i, s.P2PML, s.HLSJS, s.Bytes.HTTP, s.Bytes.P2P, 100*s.P2PRatio(), s.Upload.Bytes, s.P2PByPeer, s.ConnectedPeers(),
			len(s.Segments), len(s.Frags), firstPlaying, s.Playback.Played(), s.Playback.CurrentTime, s.RealTimeFactor(), s.Playback.Stalls, s.Playback.BufferStalledErrors, len(s.Errors))
		for _, e := range s.Errors {
			t.Logf("viewer %d error: %+v", i, e)
		}
		t.Logf("viewer %d ICE pairs (%d connections, %d remote candidates dropped): %v", i, len(s.ICE.Connections), s.ICE.DroppedRemoteCandidates, s.ICE.SelectedPairs())
	}
	if total := http + p2p; total > 0 {
		t.Logf("all viewers: http %d B, p2p %d B, p2p ratio %.1f %%; origin served %d B of segments (%d B under /vod/, %d B under /live/)",
			http, p2p, 100*float64(p2p)/float64(total), o.SegmentBytes("/"), o.SegmentBytes("/vod/"), o.SegmentBytes("/live/"))
	}
}
