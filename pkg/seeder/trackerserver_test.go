package seeder

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
)

// startTrackerSeeder runs a seeder with the embedded tracker on 127.0.0.1
// and returns the tracker's ws:// URL once superpeer's own client has
// joined it.
func startTrackerSeeder(t *testing.T, tune func(*Config)) (*harness, string) {
	t.Helper()
	h := &harness{origin: playlisttest.NewOrigin()}
	t.Cleanup(h.origin.Close)
	h.origin.SetFile("/master.m3u8", []byte(testMaster))
	h.v0 = h.origin.AddMedia("/v0/index.m3u8", playlisttest.MediaOptions{Segments: 2, SegmentSize: 1000})
	h.origin.AddMedia("/v1/index.m3u8", playlisttest.MediaOptions{Segments: 2, SegmentSize: 1000})
	cfg := testConfig("ws://unused", h.origin.URL+"/master.m3u8")
	cfg.Trackers = nil
	cfg.TrackerServer.Listen = "127.0.0.1:0"
	if tune != nil {
		tune(&cfg)
	}
	startSeeder(t, h, cfg)
	// The gauge (not Ready, which races with Run adding the tracker) says
	// superpeer's own client is connected.
	waitFor(t, 10*time.Second, "own tracker connection", func() bool {
		return metricValue(t, h.reg, "superpeer_tracker_server_connections") >= 1
	})
	st := h.seeder.Status()
	require.Len(t, st.Trackers, 1)
	return h, st.Trackers[0].URL
}

// dialTrackerFrom opens a WebSocket to the tracker at u from the local
// address ip (all of 127/8 is local on Linux).
func dialTrackerFrom(t *testing.T, u, ip string) error {
	t.Helper()
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	d := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(u, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return fmt.Errorf("http %d: %w", resp.StatusCode, err)
		}
		return err
	}
	t.Cleanup(func() { _ = ws.Close() })
	return nil
}

// TestEmbeddedTrackerPerSourceLimits attacks superpeer's tracker port from
// one address: with tracker_server.max_peers_per_ip 3, the fourth socket
// from 127.0.0.1 (where superpeer's own, exempt, connection also comes from)
// gets HTTP 429, while 127.0.0.2 is still admitted.
func TestEmbeddedTrackerPerSourceLimits(t *testing.T) {
	h, u := startTrackerSeeder(t, func(c *Config) { c.TrackerServer.MaxPeersPerIP = 3 })
	for i := range 3 {
		require.NoError(t, dialTrackerFrom(t, u, "127.0.0.1"), "socket %d", i)
	}
	require.ErrorContains(t, dialTrackerFrom(t, u, "127.0.0.1"), "http 429")
	require.NoError(t, dialTrackerFrom(t, u, "127.0.0.2"))
	require.Equal(t, 1.0, metricValue(t, h.reg, "superpeer_tracker_server_rejected_connections_total", "ip_limit"))
	require.Equal(t, 3.0, metricValue(t, h.reg, "superpeer_tracker_server_connections_per_ip_limit"))
}

// TestEmbeddedTrackerReapsIdleSockets: a raw TCP client that connects to
// superpeer's tracker port and sends nothing is counted and closed by the
// header timeout, and the listener's server has a keep-alive timeout.
func TestEmbeddedTrackerReapsIdleSockets(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s header timeout")
	}
	h, u := startTrackerSeeder(t, nil)
	c, err := net.Dial("tcp", strings.TrimPrefix(u, "ws://"))
	require.NoError(t, err)
	defer c.Close()
	waitFor(t, 5*time.Second, "the socket counted", func() bool {
		return metricValue(t, h.reg, "superpeer_tracker_server_http_connections") == 1
	})
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, err = io.ReadAll(c)
	require.NoError(t, err, "closed by the server")
	waitFor(t, 5*time.Second, "the socket uncounted", func() bool {
		return metricValue(t, h.reg, "superpeer_tracker_server_http_connections") == 0
	})

	hs, ln, _, err := h.seeder.listenTracker()
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	require.Positive(t, hs.IdleTimeout)
	require.Positive(t, hs.ReadHeaderTimeout)
}
