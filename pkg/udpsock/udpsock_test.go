package udpsock

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sysctl reads an integer from /proc/sys.
func sysctl(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return n
}

// TestSetBuffers: the sizes reported are what the kernel granted: the
// request, or the host's cap when the process may not exceed it.
func TestSetBuffers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	c := listen(t)
	before, err := Read(c)
	require.NoError(t, err)
	require.Positive(t, before.ReceiveBuffer)

	const size = 3 << 20
	info, err := SetBuffers(c, size)
	require.NoError(t, err)
	for _, b := range []struct {
		got int
		max string
	}{{info.ReceiveBuffer, "net.core.rmem_max"}, {info.SendBuffer, "net.core.wmem_max"}} {
		// At least what any process may have, at most the request
		// (reached past the cap only with CAP_NET_ADMIN).
		require.GreaterOrEqual(t, b.got, min(size, sysctl(t, b.max)), b.max)
		require.LessOrEqual(t, b.got, size, b.max)
	}
	again, err := Read(c)
	require.NoError(t, err)
	require.Equal(t, info, again)
}

// TestDrops: datagrams sent to a socket whose small receive buffer is full
// are counted as drops, and every datagram is either received or dropped.
func TestDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	r, s := listen(t), listen(t)
	require.NoError(t, r.SetReadBuffer(4096)) // the kernel's minimum, a few datagrams
	const n = 200
	msg := make([]byte, 1000)
	for range n {
		_, err := s.WriteToUDP(msg, r.LocalAddr().(*net.UDPAddr))
		require.NoError(t, err)
	}
	info, err := Read(r)
	require.NoError(t, err)
	require.Positive(t, info.Drops)

	received := 0
	buf := make([]byte, 2048)
	for {
		require.NoError(t, r.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
		if _, _, err := r.ReadFromUDP(buf); err != nil {
			break
		}
		received++
	}
	require.Positive(t, received)
	require.Equal(t, uint64(n), uint64(received)+info.Drops)
}
