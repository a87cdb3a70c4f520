//go:build interop

package interop

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// player06URL is the 0.6 page (hls.js 0.14 + P2P Media Loader 0.6.2 browser bundles) for p.
func player06URL(env *Env, p PlayerParams) string {
	p.P2PML = P2PML06
	return strings.Replace(env.PlayerURL(p), "/web/player.html?", "/web/player06.html?", 1)
}

// TestSuperpeerVOD06: one viewer running the published P2P Media Loader 0.6.2 (hls.js 0.14, the
// generation the JW Player, Clappr, Video.js… plugins wrap) with default settings apart from the
// ICE servers watches the VOD superpeer seeds. Most of its bytes come from superpeer, byte-identical.
func TestSuperpeerVOD06(t *testing.T) {
	requireModules06(t)
	env := newEnv(t)
	sp := startSuperpeer(t, env, env.Origin.VODMaster())

	res := runBrowsers(t, BrowserSpec{Viewers: staggered(player06URL(env, PlayerParams{Src: env.Origin.VODMaster()}), 1, 0, 40*time.Second)})
	logViewers(t, env.Origin, res)
	s := res.Viewers[0].Stats
	require.Equal(t, P2PML06, s.P2PML)
	requirePlayed(t, env.Origin, 0, s)
	require.Zero(t, s.Playback.Stalls, "stalls")

	fromSuperpeer := s.P2PBytesFrom(superpeerPrefix)
	total := s.Bytes.HTTP + s.Bytes.P2P
	ratio := float64(fromSuperpeer) / float64(total)
	t.Logf("measured: P2PML 0.6.2 VOD: %d of %d bytes (%.1f %%) from superpeer; superpeer sent %.0f B, fetched %.0f B from the origin",
		fromSuperpeer, total, 100*ratio, sp.counter(t, "superpeer_p2p_sent_bytes_total", nil), sp.counter(t, "superpeer_origin_fetched_bytes_total", nil))
	require.Equal(t, s.Bytes.P2P, fromSuperpeer, "the only peer is superpeer")
	require.GreaterOrEqual(t, ratio, 0.65, "share of the 0.6 viewer's bytes delivered by superpeer")
}

// TestSuperpeerLive06: a 0.6.2 viewer of the live simulation with the live profile of the test page
// (hls.js liveSyncDurationCount 10).
func TestSuperpeerLive06(t *testing.T) {
	requireModules06(t)
	env := newEnv(t)
	sp := startSuperpeer(t, env, env.Origin.LiveMaster())

	res := runBrowsers(t, BrowserSpec{Viewers: staggered(player06URL(env, PlayerParams{Src: env.Origin.LiveMaster(), Live: true}), 1, 0, 40*time.Second)})
	logViewers(t, env.Origin, res)
	s := res.Viewers[0].Stats
	requirePlayed(t, env.Origin, 0, s)
	require.Zero(t, s.Playback.Stalls, "stalls")

	fromSuperpeer := s.P2PBytesFrom(superpeerPrefix)
	total := s.Bytes.HTTP + s.Bytes.P2P
	ratio := float64(fromSuperpeer) / float64(total)
	t.Logf("measured: P2PML 0.6.2 live: %d of %d bytes (%.1f %%) from superpeer; superpeer sent %.0f B",
		fromSuperpeer, total, 100*ratio, sp.counter(t, "superpeer_p2p_sent_bytes_total", nil))
	require.GreaterOrEqual(t, ratio, 0.5, "share of the live 0.6 viewer's bytes delivered by superpeer")
}

// TestSuperpeerGenerationsTogether: a 0.6.2, a 2.2.2 and a 2.3.1 viewer watch the same VOD at the
// same time. Each is in its own generation's swarms, all three get most of their bytes from the one
// superpeer, and superpeer fetched each segment from the origin once.
func TestSuperpeerGenerationsTogether(t *testing.T) {
	requireModules06(t)
	env := newEnv(t)
	sp := startSuperpeer(t, env, env.Origin.VODMaster())

	const d = 40 * time.Second
	res := runBrowsers(t, BrowserSpec{Viewers: []Viewer{
		{URL: player06URL(env, PlayerParams{Src: env.Origin.VODMaster()}), Duration: d},
		{URL: env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: P2PML222}), Duration: d},
		{URL: env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: P2PML231}), Duration: d},
	}})
	logViewers(t, env.Origin, res)
	for i, want := range []string{P2PML06, P2PML222, P2PML231} {
		s := res.Viewers[i].Stats
		require.Equal(t, want, s.P2PML)
		requirePlayed(t, env.Origin, i, s)
		fromSuperpeer := s.P2PBytesFrom(superpeerPrefix)
		ratio := float64(fromSuperpeer) / float64(s.Bytes.HTTP+s.Bytes.P2P)
		t.Logf("measured: together, P2PML %s: %.1f %% from superpeer", want, 100*ratio)
		require.Equal(t, s.Bytes.P2P, fromSuperpeer, "viewer %d: generations never share a swarm, so every P2P byte is superpeer's", i)
		require.GreaterOrEqual(t, ratio, 0.5, "viewer %d (P2PML %s) share from superpeer", i, want)
	}
	fetched := sp.counter(t, "superpeer_origin_fetched_bytes_total", nil)
	var unique float64
	for _, v := range env.Media.Variants {
		for _, seg := range v.Segments {
			unique += float64(seg.Size)
		}
	}
	t.Logf("measured: superpeer fetched %.0f B from the origin for %.0f B of unique VOD media (%.3fx)", fetched, unique, fetched/unique)
	require.LessOrEqual(t, fetched, unique*1.01, "each segment fetched once for every generation")
}
