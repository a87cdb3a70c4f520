//go:build interop

package interop

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSuperpeerP2PML5 runs the published P2P Media Loader 5.x (the "v3"
// generation) against superpeer where the npm registry serves it: one viewer
// of the VOD gets most of its bytes from superpeer. The registry reachable
// here serves the packages only up to 2.3.1, so here it skips; superpeer's v3
// generation is tested by simulated 5.x browsers in pkg/seeder
// (TestServeV3LiveElection, TestServeDASH) against the vectors of
// protocol-v3.md.
func TestSuperpeerP2PML5(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "view", "p2p-media-loader-core@>=5.0.0", "version").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("the npm registry serves no p2p-media-loader-core 5.x (npm view: %q, %v): the v3 generation is tested with simulated 5.x browsers in pkg/seeder", strings.TrimSpace(string(out)), err)
	}
	install := exec.CommandContext(ctx, "npm", "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund",
		"--prefix", interopDir(t), "core5@npm:p2p-media-loader-core@5", "hlsjs5@npm:p2p-media-loader-hlsjs@5")
	b, err := install.CombinedOutput()
	require.NoError(t, err, "npm install of the 5.x packages: %s", b)

	env := newEnv(t)
	startSuperpeer(t, env, env.Origin.VODMaster())
	url := env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: "5"})
	res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 1, 0, 40*time.Second)})
	logViewers(t, env.Origin, res)
	s := res.Viewers[0].Stats
	requirePlayed(t, env.Origin, 0, s)
	ratio := float64(s.P2PBytesFrom(superpeerPrefix)) / float64(s.Bytes.HTTP+s.Bytes.P2P)
	t.Logf("measured: P2PML 5.x: %.1f %% of the viewer's bytes from superpeer", 100*ratio)
	require.GreaterOrEqual(t, ratio, 0.5)
}
