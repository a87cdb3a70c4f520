//go:build interop

package interop

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/trackerserver"
)

// P2PML06 is the legacy generation, played by web/player06.html (browser bundles + hls.js 0.14).
const P2PML06 = "0.6.2"

// trackerServer is our embedded tracker (pkg/trackerserver.Server) running in the test process.
type trackerServer struct {
	URL     string // ws://127.0.0.1:port
	Server  *trackerserver.Server
	Metrics *trackerserver.Metrics
	Reg     *prometheus.Registry
}

// startTrackerServer runs trackerserver.Server on 127.0.0.1 (httptest) until the test ends.
func startTrackerServer(t *testing.T) *trackerServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := trackerserver.NewMetrics(reg)
	srv, err := trackerserver.New(trackerserver.Config{
		Interval: 20 * time.Second, // browsers re-announce (with fresh offers) within a test run
		Logger:   zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Metrics:  m,
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("tracker server did not stop within 10 s")
		}
		ts.Close()
	})
	return &trackerServer{URL: "ws" + strings.TrimPrefix(ts.URL, "http"), Server: srv, Metrics: m, Reg: reg}
}

// check logs the tracker's counters and requires that it saw no bad message and relayed both
// ways.
func (ts *trackerServer) check(t *testing.T) {
	t.Helper()
	mfs, err := ts.Reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if v != 0 {
				t.Logf("tracker %s{%s} %g", mf.GetName(), strings.Join(labels, ","), v)
			}
		}
	}
	value := func(name string, labels ...string) float64 {
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metrics:
			for _, m := range mf.GetMetric() {
				for i, l := range m.GetLabel() {
					if i >= len(labels) || l.GetValue() != labels[i] {
						continue metrics
					}
				}
				return m.GetCounter().GetValue()
			}
		}
		return 0
	}
	require.Positive(t, value("superpeer_tracker_server_relayed_total", "offer"), "no offer relayed")
	require.Positive(t, value("superpeer_tracker_server_relayed_total", "answer"), "no answer relayed")
	require.Zero(t, value("superpeer_tracker_server_messages_total", "in", "malformed"), "browsers sent malformed messages")
	require.Zero(t, value("superpeer_tracker_server_messages_total", "out", "failure"), "the tracker refused browser messages")
	require.Zero(t, value("superpeer_tracker_server_dropped_total", "invalid"), "the tracker dropped invalid browser input")
}

// newTrackerServerEnv is newEnv with our tracker instead of npm bittorrent-tracker.
func newTrackerServerEnv(t *testing.T) (*Env, *trackerServer) {
	t.Helper()
	requireTools(t)
	media := ensureMedia(t, DefaultMediaSpec())
	ts := startTrackerServer(t)
	return &Env{Media: media, Origin: newOrigin(t, media, OriginOptions{}), Tracker: ts.URL}, ts
}

// TestTrackerServerP2PML: two browsers per P2P Media Loader 2.x version watch the VOD 5 s apart with
// our embedded tracker as their only announce tracker. The second viewer gets P2P bytes from the
// first, every fragment is byte-identical to the origin.
func TestTrackerServerP2PML(t *testing.T) {
	for _, tc := range []struct{ version, prefix string }{
		{P2PML231, "-PM0203-"},
		{P2PML222, "-PM0202-"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			env, ts := newTrackerServerEnv(t)
			url := env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: tc.version, Level: "1"}) // 360p only
			res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 2, 5*time.Second, 30*time.Second)})
			logViewers(t, env.Origin, res)
			ts.check(t)
			requireP2PPair(t, env, res, tc.version, tc.prefix)
		})
	}
}

// TestTrackerServerP2PML06: two browsers running the legacy P2P Media Loader 0.6.2 bundles (binary
// SHA-1 info hashes, one peer id for all swarms, 10 offers per announce, bittorrent-tracker 9.14.4
// client) exchange segments through our tracker.
func TestTrackerServerP2PML06(t *testing.T) {
	requireModules06(t)
	env, ts := newTrackerServerEnv(t)
	url := env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: P2PML06, Level: "1"})
	url = strings.Replace(url, "/web/player.html?", "/web/player06.html?", 1)
	res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 2, 5*time.Second, 30*time.Second)})
	logViewers(t, env.Origin, res)
	ts.check(t)
	requireP2PPair(t, env, res, P2PML06, "-WW0006-")
}

// modules06 are the npm aliases web/player06.html loads (test/interop/package.json).
var modules06 = []string{"core06", "hlsjs06", "hlsjs014"}

// requireModules06 skips (or, with SUPERPEER_INTEROP_REQUIRED, fails) when the 0.6 packages are not
// installed, as requireTools does for the rest.
func requireModules06(t *testing.T) {
	t.Helper()
	for _, pkg := range modules06 {
		if _, err := os.Stat(filepath.Join(interopDir(t), "node_modules", pkg, "package.json")); err != nil {
			if os.Getenv(requiredEnvVar) != "" {
				t.Fatalf("node_modules/%s missing and %s is set (cd test/interop && npm install --ignore-scripts)", pkg, requiredEnvVar)
			}
			t.Skipf("node_modules/%s missing (cd test/interop && npm install --ignore-scripts)", pkg)
		}
	}
}
