//go:build interop

package interop

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ShakaParams are the query parameters of web/player-shaka.html (see web/player-shaka.mjs) and
// web/player06-shaka.html (see web/player06-shaka.js).
type ShakaParams struct {
	Src       string // manifest URL (.mpd or .m3u8)
	Tracker   string // ws:// announce URL; the env's tracker when empty
	SwarmID   string
	WalkIndex bool // hand Shaka's whole segment index to P2PML after load (docs/dash.md snippet)
	Live      bool // live profile
	Core      map[string]any
	Shaka     map[string]any // player.configure(k, v)
	ICE       string
	Debug     string // debug-module namespaces
}

// shakaPageURL returns the URL of page (player-shaka.html or player06-shaka.html) with p encoded.
func (e *Env) shakaPageURL(page string, p ShakaParams) string {
	q := url.Values{}
	q.Set("src", p.Src)
	if p.Tracker == "" {
		p.Tracker = e.Tracker
	}
	q.Set("tracker", p.Tracker)
	if p.SwarmID != "" {
		q.Set("swarmId", p.SwarmID)
	}
	if p.WalkIndex {
		q.Set("walkIndex", "1")
	}
	if p.Live {
		q.Set("live", "1")
	}
	if p.ICE != "" {
		q.Set("ice", p.ICE)
	}
	if p.Debug != "" {
		q.Set("debug", p.Debug)
	}
	for k, v := range p.Core {
		q.Set("core."+k, mustJSON(v))
	}
	for k, v := range p.Shaka {
		q.Set("shaka."+k, mustJSON(v))
	}
	return e.Origin.URL + "/web/" + page + "?" + q.Encode()
}

// ShakaURL is the Shaka Player 4.16.9 + P2P Media Loader 2.2.2 page.
func (e *Env) ShakaURL(p ShakaParams) string { return e.shakaPageURL("player-shaka.html", p) }

// Shaka06URL is the Shaka Player 2.5.23 + P2P Media Loader 0.6.2 page.
func (e *Env) Shaka06URL(p ShakaParams) string {
	return e.shakaPageURL("player06-shaka.html", p) + "&p2pml=" + P2PML06
}

// newDASHEnv is newEnv with the default DASH media served under /dash/ (SegmentTemplate@duration)
// and /dash-timeline/ (SegmentTimeline) and, when live is set, the long DASH media under /dash-live/.
func newDASHEnv(t testing.TB, live bool) *Env {
	t.Helper()
	requireTools(t)
	requireShakaModules(t)
	media := ensureMedia(t, DefaultMediaSpec())
	opts := OriginOptions{DASH: ensureDASHMedia(t, DefaultDASHSpec(), false), DASHTimeline: ensureDASHMedia(t, DefaultDASHSpec(), true)}
	if live {
		opts.DASHLive = ensureDASHMedia(t, LiveDASHSpec(), false)
	}
	return &Env{Media: media, Origin: newOrigin(t, media, opts), Tracker: startTracker(t)}
}

// requireShakaModules skips (or fails, see requireTools) when the Shaka packages are missing.
func requireShakaModules(t testing.TB) {
	t.Helper()
	requireNodeModules(t, "shaka-player", "shaka22", "shaka06", "shaka25", "core06")
}

// shakaRun is one lone Shaka viewer's outcome against superpeer.
type shakaRun struct {
	Stats         Stats
	FromSuperpeer int64
	Total         int64 // P2PML's http + p2p bytes + Bypassed
	PlayerBytes   int64 // segment bytes the player received (Stats.Frags)
	Bypassed      int64 // of PlayerBytes, those of segments P2PML never loaded (fetched by the player)
	Ratio         float64
	Sent, Fetched float64
}

// runShakaViewer starts superpeer on stream, plays pageURL in one viewer for d and checks what every
// Shaka run must: the P2PML version, playback without fatal errors or stalls, byte identity, and
// that every P2P byte came from superpeer.
func runShakaViewer(t *testing.T, env *Env, stream, pageURL, version string, d time.Duration) shakaRun {
	t.Helper()
	sp := startSuperpeer(t, env, stream)
	res := runBrowsers(t, BrowserSpec{Viewers: staggered(pageURL, 1, 0, d)})
	logViewers(t, env.Origin, res)
	s := res.Viewers[0].Stats
	require.Equal(t, version, s.P2PML)
	requirePlayed(t, env.Origin, 0, s)
	require.Zero(t, s.Playback.Stalls, "stalls")
	r := shakaRun{Stats: s, FromSuperpeer: s.P2PBytesFrom(superpeerPrefix), Total: s.Bytes.HTTP + s.Bytes.P2P}
	// Segments the P2P engine never heard of (init segments; with 0.6, audio; with 2.2.2 on a lazily
	// built index, all but the first) bypass its counters: they count as HTTP bytes here.
	viaEngine := map[string]bool{}
	for _, seg := range s.Segments {
		viaEngine[seg.URL] = true
	}
	for _, f := range s.Frags {
		r.PlayerBytes += f.Bytes
		if !viaEngine[f.URL] {
			r.Bypassed += f.Bytes
		}
	}
	r.Total += r.Bypassed
	if r.Total > 0 {
		r.Ratio = float64(r.FromSuperpeer) / float64(r.Total)
	}
	r.Sent = sp.counter(t, "superpeer_p2p_sent_bytes_total", nil)
	r.Fetched = sp.counter(t, "superpeer_origin_fetched_bytes_total", nil)
	require.Equal(t, s.Bytes.P2P, r.FromSuperpeer, "the only peer is superpeer: %v", s.P2PByPeer)
	return r
}

// TestSuperpeerDASHVOD: one viewer with Shaka Player 4.16.9 + P2P Media Loader 2.2.2 (default
// settings) plays an ffmpeg-made DASH VOD that superpeer seeds, in both MPD flavours ffmpeg writes
// (SegmentTemplate@duration and SegmentTimeline). With the segment-index snippet (walkIndex) most of
// its bytes come from superpeer. Without it, as measured and logged here, Shaka builds a
// SegmentTimeline index lazily, p2p-media-loader-shaka 2.2.2 reads a VOD index once, and the page
// fetches everything past the first segments over HTTP.
func TestSuperpeerDASHVOD(t *testing.T) {
	for _, mpd := range []struct{ name, path string }{{"template", "/dash/"}, {"timeline", "/dash-timeline/"}} {
		for _, walk := range []bool{true, false} {
			name := mpd.name + map[bool]string{true: "/walkIndex", false: "/unmodified"}[walk]
			t.Run(name, func(t *testing.T) {
				env := newDASHEnv(t, false)
				src := env.Origin.URL + mpd.path + "manifest.mpd"
				r := runShakaViewer(t, env, src, env.ShakaURL(ShakaParams{Src: src, WalkIndex: walk}), P2PML222, 40*time.Second)
				t.Logf("measured: Shaka 4.16.9 + P2PML 2.2.2 DASH VOD (%s): %d of %d bytes (%.1f %%) from superpeer (P2P engine %d B, bypassing it %d B); %d segments through the P2P engine; superpeer sent %.0f B, fetched %.0f B from the origin",
					name, r.FromSuperpeer, r.Total, 100*r.Ratio, r.Stats.Bytes.HTTP+r.Stats.Bytes.P2P, r.Bypassed, len(r.Stats.Segments), r.Sent, r.Fetched)
				if walk {
					require.GreaterOrEqual(t, r.Ratio, 0.65, "share of the DASH viewer's bytes delivered by superpeer")
				}
			})
		}
	}
}

// TestSuperpeerDASHLive: one Shaka 4.16.9 + P2PML 2.2.2 viewer of the live DASH simulation (dynamic
// MPD over the ffmpeg-made files) with the live profile docs/dash.md recommends. The integration
// plays 25 s behind the live edge, superpeer fetches each segment as it appears. The same run with
// P2PML's default settings is measured and logged, not required.
func TestSuperpeerDASHLive(t *testing.T) {
	for _, live := range []bool{true, false} {
		name := map[bool]string{true: "liveProfile", false: "defaults"}[live]
		t.Run(name, func(t *testing.T) {
			env := newDASHEnv(t, true)
			src := env.Origin.DASHLive()
			r := runShakaViewer(t, env, src, env.ShakaURL(ShakaParams{Src: src, Live: live}), P2PML222, 40*time.Second)
			t.Logf("measured: Shaka 4.16.9 + P2PML 2.2.2 DASH live (%s): %d of %d bytes (%.1f %%) from superpeer (P2P engine %d B, bypassing it %d B); superpeer sent %.0f B, fetched %.0f B from the origin",
				name, r.FromSuperpeer, r.Total, 100*r.Ratio, r.Stats.Bytes.HTTP+r.Stats.Bytes.P2P, r.Bypassed, r.Sent, r.Fetched)
			if live {
				require.GreaterOrEqual(t, r.Ratio, 0.5, "share of the live DASH viewer's bytes delivered by superpeer")
			}
		})
	}
}

// TestSuperpeerHLSThroughShaka: the HLS VOD (MPEG-TS) played by Shaka 4.16.9 + P2PML 2.2.2 instead
// of hls.js: Shaka's HLS numbering is the 2.2 generation's too, so superpeer serves it.
func TestSuperpeerHLSThroughShaka(t *testing.T) {
	env := newDASHEnv(t, false)
	src := env.Origin.VODMaster()
	r := runShakaViewer(t, env, src, env.ShakaURL(ShakaParams{Src: src}), P2PML222, 40*time.Second)
	t.Logf("measured: Shaka 4.16.9 + P2PML 2.2.2 HLS VOD: %d of %d bytes (%.1f %%) from superpeer (P2P engine %d B, bypassing it %d B); superpeer sent %.0f B",
		r.FromSuperpeer, r.Total, 100*r.Ratio, r.Stats.Bytes.HTTP+r.Stats.Bytes.P2P, r.Bypassed, r.Sent)
	require.Positive(t, r.FromSuperpeer, "no P2P bytes from superpeer")
}

// TestSuperpeerDASH06: one viewer running the published P2P Media Loader 0.6.2 Shaka integration with
// Shaka Player 2.5.23 (default settings apart from the ICE servers, see web/player06-shaka.js) plays
// the DASH VOD, both MPD flavours. Shaka 2.5 builds the whole index at once, so no snippet is needed.
func TestSuperpeerDASH06(t *testing.T) {
	for _, mpd := range []struct{ name, path string }{{"template", "/dash/"}, {"timeline", "/dash-timeline/"}} {
		t.Run(mpd.name, func(t *testing.T) {
			env := newDASHEnv(t, false)
			src := env.Origin.URL + mpd.path + "manifest.mpd"
			r := runShakaViewer(t, env, src, env.Shaka06URL(ShakaParams{Src: src}), P2PML06, 40*time.Second)
			t.Logf("measured: Shaka 2.5.23 + P2PML 0.6.2 DASH VOD (%s): %d of %d bytes (%.1f %%) from superpeer (P2P engine %d B, bypassing it %d B); superpeer sent %.0f B, fetched %.0f B from the origin",
				mpd.name, r.FromSuperpeer, r.Total, 100*r.Ratio, r.Stats.Bytes.HTTP+r.Stats.Bytes.P2P, r.Bypassed, r.Sent, r.Fetched)
			require.GreaterOrEqual(t, r.Ratio, 0.65, "share of the 0.6 Shaka viewer's bytes delivered by superpeer")
		})
	}
}

// requireNodeModules skips the test when one of pkgs is not installed, or fails it when
// SUPERPEER_INTEROP_REQUIRED is set.
func requireNodeModules(t testing.TB, pkgs ...string) {
	t.Helper()
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(interopDir(t), "node_modules", pkg, "package.json")); err != nil {
			if os.Getenv(requiredEnvVar) != "" {
				t.Fatalf("node_modules/%s missing and %s is set (cd test/interop && npm ci --ignore-scripts)", pkg, requiredEnvVar)
			}
			t.Skipf("node_modules/%s missing (cd test/interop && npm ci --ignore-scripts)", pkg)
		}
	}
}
