package seeder

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

// TestICETCP: a browser that can only use TCP (its network blocks UDP)
// reaches superpeer through webrtc.tcp_port and downloads over it.
func TestICETCP(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for ICE over TCP and a re-announce")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	h := newHarness(t, func(c *Config) { c.WebRTC.TCPPort = port })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, offer := range []bool{true, false} {
		b := newTestBrowserOn(t, h.tracker.URL, h.infoHash(wire.Gen23), offer, webrtc.NetworkTypeTCP4)
		b.run(ctx)
		c := b.conn(ctx)
		waitAnnouncement(t, c, []int64{0, 1, 2, 3, 4, 5})
		got, err := c.download(3, 1, 0)
		require.NoError(t, err, "browser offers: %v", offer)
		require.Equal(t, h.v0.SegmentData(3), got)
		b.mu.Lock()
		var pair *webrtc.ICECandidatePair
		for _, pc := range b.pcs {
			if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
				pair, err = pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
				require.NoError(t, err)
			}
		}
		b.mu.Unlock()
		require.NotNil(t, pair)
		require.Equal(t, webrtc.ICEProtocolTCP, pair.Remote.Protocol, "selected pair %s", pair)
		require.Equal(t, uint16(port), pair.Remote.Port)
	}
}
