//go:build interop

// Package interop holds real-browser tests: headless Chromium runs the published P2P Media Loader
// packages (hls.js + p2p-media-loader-core/-hlsjs from node_modules) against a local origin and a local
// WebTorrent tracker, and, in the lead's tests, against superpeer itself.
//
// Run: go test -tags interop -v -count=1 ./test/interop/
//
// The helpers, smallest first:
//
//	env := newEnv(t) // tools check, media, origin, tracker
//	url := env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: P2PML231})
//	res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 2, 5*time.Second, 30*time.Second)})
//	res.Viewers[1].Stats.P2PBytesFrom("-SP") // bytes from peers whose id starts with -SP
//	requireByteIdentity(t, env.Origin, res.Viewers[1].Stats)
//	env.Origin.SegmentBytes("/vod/")         // origin egress
//
// For live: env.Origin.LiveMaster() and PlayerParams{Live: true}. For other origin settings build the
// pieces directly: requireTools, ensureMedia, newOrigin(t, media, OriginOptions{...}), startTracker.
package interop

import (
	"cmp"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// requiredEnvVar makes missing tools a hard failure instead of a skip (CI sets it).
const requiredEnvVar = "SUPERPEER_INTEROP_REQUIRED"

// chromiumPath is the system Chromium; the harness never downloads a browser.
const chromiumPath = "/usr/bin/chromium"

// nodeModules lists the npm packages the harness and the player page load.
var nodeModules = []string{
	"hls.js", "p2p-media-loader-core", "p2p-media-loader-hlsjs", "core22", "hlsjs22",
	"playwright-core", "bittorrent-tracker",
}

// interopDir returns the absolute path of test/interop (go test runs in the package directory).
func interopDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	return dir
}

// requireTools skips the test when chromium, ffmpeg, node or the npm packages are missing, or fails
// it when SUPERPEER_INTEROP_REQUIRED is set.
func requireTools(t testing.TB) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath)
	}
	for _, tool := range []string{"ffmpeg", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	nm := filepath.Join(interopDir(t), "node_modules")
	for _, pkg := range nodeModules {
		if _, err := os.Stat(filepath.Join(nm, pkg, "package.json")); err != nil {
			missing = append(missing, "node_modules/"+pkg+" (cd test/interop && npm install --ignore-scripts)")
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv(requiredEnvVar) != "" {
		t.Fatalf("interop prerequisites missing and %s is set: %v", requiredEnvVar, missing)
	}
	t.Skipf("interop prerequisites missing (set %s=1 to fail instead): %v", requiredEnvVar, missing)
}

// Env is the usual fixture of a browser test: generated media, an origin serving it (VOD and live)
// plus the player page, and a WebTorrent tracker.
type Env struct {
	Media   *Media
	Origin  *Origin
	Tracker string // ws://127.0.0.1:port
}

// newEnv checks the tools, then starts the default media, origin and tracker. All are cleaned up
// with t.
func newEnv(t testing.TB) *Env {
	t.Helper()
	return newEnvWith(t, EnvOptions{})
}

// EnvOptions changes newEnv's defaults. The zero value is newEnv.
type EnvOptions struct {
	// Host is the IPv4 address the origin and the tracker listen on. Default 127.0.0.1.
	Host string
}

// newEnvWith is newEnv with options.
func newEnvWith(t testing.TB, opts EnvOptions) *Env {
	t.Helper()
	requireTools(t)
	media := ensureMedia(t, DefaultMediaSpec())
	host := cmp.Or(opts.Host, "127.0.0.1")
	var oo OriginOptions
	if opts.Host != "" {
		oo.Addr = net.JoinHostPort(host, "0")
	}
	return &Env{
		Media:   media,
		Origin:  newOrigin(t, media, oo),
		Tracker: startTrackerOn(t, host),
	}
}

// PlayerURL returns the player page URL on the env's origin; p.Tracker defaults to the env's tracker.
func (e *Env) PlayerURL(p PlayerParams) string {
	if p.Tracker == "" {
		p.Tracker = e.Tracker
	}
	return e.Origin.PlayerURL(p)
}
