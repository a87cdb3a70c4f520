package seeder

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

// TestUDPPort: with webrtc.udp_port every browser connection, offered or
// answered, runs over that one socket, whose kernel buffers are sized as
// webrtc.udp_port_buffer asks (or as far as the host allows), and the
// metrics say so.
func TestUDPPort(t *testing.T) {
	if testing.Short() {
		t.Skip("connects browsers over WebRTC")
	}
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	port := ln.LocalAddr().(*net.UDPAddr).Port
	require.NoError(t, ln.Close())
	const buffer = 2 << 20
	h := newHarness(t, func(c *Config) {
		c.WebRTC.UDPPort = port
		c.WebRTC.UDPPortBuffer = buffer
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A swarm each, so that the two browsers do not connect to each other.
	for gen, offer := range map[wire.Generation]bool{wire.Gen23: true, wire.Gen22: false} {
		b := newTestBrowser(t, h.tracker.URL, h.infoHash(gen), offer)
		b.run(ctx)
		c := b.conn(ctx)
		waitAnnouncement(t, c, []int64{0, 1, 2, 3, 4, 5})
		got, err := c.download(2, 1, 0)
		require.NoError(t, err, "browser offers: %v", offer)
		require.Equal(t, h.v0.SegmentData(2), got)
		pair := b.selectedPair()
		require.Equal(t, uint16(port), pair.Remote.Port, "selected pair %s", pair)
	}

	buffers := map[string]float64{}
	mfs, err := h.seeder.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "superpeer_udp_port_buffer_bytes" {
			continue
		}
		for _, m := range mf.GetMetric() {
			buffers[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	for dir, max := range map[string]string{"receive": "rmem_max", "send": "wmem_max"} {
		got, ok := buffers[dir]
		require.True(t, ok, "superpeer_udp_port_buffer_bytes{direction=%q}", dir)
		// What any process gets, up to the request (past the host's cap
		// only with CAP_NET_ADMIN).
		require.GreaterOrEqual(t, got, float64(min(buffer, netCoreSysctl(t, max))), dir)
		require.LessOrEqual(t, got, float64(buffer), dir)
	}
}

func netCoreSysctl(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/" + name)
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return n
}
