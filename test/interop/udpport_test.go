//go:build interop

package interop

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/seeder"
)

// TestSuperpeerUDPPort: real Chromium with the published P2P Media Loader 2.3.1 watches a VOD that
// superpeer seeds over one UDP port (webrtc.udp_port, the setup docs/operations.md recommends
// behind a firewall or NAT). The viewer gets most of its bytes from superpeer over that port, the
// port's socket has the kernel buffers superpeer asked for (or the host's cap), and the kernel
// dropped nothing on arrival.
func TestSuperpeerUDPPort(t *testing.T) {
	requireTools(t)
	env := newEnv(t)
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{})
	require.NoError(t, err)
	port := ln.LocalAddr().(*net.UDPAddr).Port
	require.NoError(t, ln.Close())
	sp := startSuperpeerWith(t, env, env.Origin.VODMaster(), func(c *seeder.Config) { c.WebRTC.UDPPort = port })

	url := env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: P2PML231})
	res := runBrowsers(t, BrowserSpec{Viewers: staggered(url, 1, 0, 40*time.Second)})
	logViewers(t, env.Origin, res)
	s := res.Viewers[0].Stats

	require.Equal(t, P2PML231, s.P2PML)
	requirePlayed(t, env.Origin, 0, s)
	require.Zero(t, s.Playback.Stalls, "stalls")

	fromSuperpeer := s.P2PBytesFrom(superpeerPrefix)
	total := s.Bytes.HTTP + s.Bytes.P2P
	require.Positive(t, total, "viewer downloaded nothing")
	ratio := float64(fromSuperpeer) / float64(total)
	pairs := s.ICE.SelectedPairs()
	receive := sp.counter(t, "superpeer_udp_port_buffer_bytes", map[string]string{"direction": "receive"})
	drops := sp.counter(t, "superpeer_udp_receive_drops_total", nil)
	t.Logf("measured: udp_port %d: %d of %d bytes (%.1f %%) from superpeer over %v; receive buffer %.0f B, %.0f datagrams dropped on arrival",
		port, fromSuperpeer, total, 100*ratio, pairs, receive, drops)

	// superpeer has no other WebRTC socket here (no STUN servers, so no ephemeral ports), so its
	// bytes came over the port; Chromium reports the pair only for connections still open when the
	// stats are read, and each one it reports must be on the port.
	for _, p := range pairs {
		_, remote, ok := strings.Cut(p, " -> ")
		require.True(t, ok, p)
		require.Contains(t, remote, ":"+strconv.Itoa(port), "selected pair %q is not superpeer's udp_port", p)
	}
	require.GreaterOrEqual(t, ratio, 0.6, "share of the viewer's bytes delivered by superpeer over udp_port")
	require.Positive(t, receive, "superpeer_udp_port_buffer_bytes{direction=\"receive\"}")
	require.Zero(t, drops, "datagrams dropped on arrival at superpeer's sockets")
}
