package seeder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
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
		pair := b.selectedPair()
		require.Equal(t, webrtc.ICEProtocolTCP, pair.Remote.Protocol, "selected pair %s", pair)
		require.Equal(t, uint16(port), pair.Remote.Port)
	}
}

// TestICETCPPerIPLimit attacks webrtc.tcp_port with raw connections that
// never send a STUN request: past tcp_max_per_ip from one address they are
// closed as they are accepted and counted, another address still gets in,
// and closing the attacker's connections gives its slots back.
func TestICETCPPerIPLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	cfg := DefaultConfig().WebRTC
	cfg.TCPPort, cfg.TCPMaxPerIP, cfg.IncludeLoopback, cfg.ICEServers = port, 3, true, nil
	rejected := prometheus.NewCounter(prometheus.CounterOpts{Name: "rejected"})
	_, _, closer, err := newWebRTC(cfg, zerolog.Nop(), rejected, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = closer.Close() })

	dial := func(from string) net.Conn {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := nd.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	open := func(c net.Conn) bool {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	var held []net.Conn
	for range 8 {
		if c := dial("127.0.0.1"); open(c) {
			held = append(held, c)
		}
	}
	require.Len(t, held, 3, "connections held from one address")
	require.Equal(t, 5.0, testutil.ToFloat64(rejected))
	require.True(t, open(dial("127.0.0.2")), "another address")
	for _, c := range held {
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool { return open(dial("127.0.0.1")) }, 5*time.Second, 10*time.Millisecond,
		"the address gets its slots back")
}
