//go:build interop

package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/seeder"
)

// The UDP-blocked network: a veth pair between the host and a network namespace the test creates.
// Nothing else is reachable from the namespace.
const (
	udpBlockHostIP = "10.213.0.1"
	udpBlockNSIP   = "10.213.0.2"
)

// udpBlockedNet is a network namespace whose only link to the host is a veth pair, with every UDP
// packet in or out of the namespace dropped.
type udpBlockedNet struct {
	NS        string // namespace name, for `ip netns exec`
	HostVeth  string // host-side interface (udpBlockHostIP)
	InnerVeth string // namespace-side interface (udpBlockNSIP)
}

// requireNetnsTools skips t unless it runs as root with `ip netns` usable. Missing privileges are a
// skip even under SUPERPEER_INTEROP_REQUIRED: an unprivileged run cannot test this at all.
func requireNetnsTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("TestSuperpeerUDPBlocked needs root (network namespace, veth pair, iptables)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("TestSuperpeerUDPBlocked needs iproute2's ip (ip netns)")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		t.Skipf("TestSuperpeerUDPBlocked: `ip netns list` failed: %v: %s", err, out)
	}
}

// setupFailed fails t when SUPERPEER_INTEROP_REQUIRED is set (root and ip exist, so the setup is
// expected to work), and skips it otherwise.
func setupFailed(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(requiredEnvVar) != "" {
		t.Fatalf("UDP-blocked network setup failed and %s is set: %s", requiredEnvVar, msg)
	}
	t.Skipf("UDP-blocked network setup failed (set %s=1 to fail instead): %s", requiredEnvVar, msg)
}

// run runs a command and returns its combined output and error.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// newUDPBlockedNet creates the namespace, the veth pair (udpBlockHostIP/30 on the host,
// udpBlockNSIP/30 inside) and the iptables rules dropping UDP inside the namespace. Everything is
// removed with t.
func newUDPBlockedNet(t *testing.T) *udpBlockedNet {
	t.Helper()
	requireNetnsTools(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		setupFailed(t, "iptables not found (apt-get install iptables)")
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	n := &udpBlockedNet{NS: "spudp" + id, HostVeth: "spu" + id + "h", InnerVeth: "spu" + id + "n"}
	t.Cleanup(func() {
		// Deleting the namespace destroys its end of the veth pair and with it the host end; the
		// explicit delete covers a setup that failed before the move.
		_, _ = run("ip", "netns", "del", n.NS)
		_, _ = run("ip", "link", "del", n.HostVeth)
	})
	steps := [][]string{
		{"ip", "netns", "add", n.NS},
		{"ip", "link", "add", n.HostVeth, "type", "veth", "peer", "name", n.InnerVeth},
		{"ip", "link", "set", n.InnerVeth, "netns", n.NS},
		{"ip", "addr", "add", udpBlockHostIP + "/30", "dev", n.HostVeth},
		{"ip", "link", "set", n.HostVeth, "up"},
		{"ip", "netns", "exec", n.NS, "ip", "addr", "add", udpBlockNSIP + "/30", "dev", n.InnerVeth},
		{"ip", "netns", "exec", n.NS, "ip", "link", "set", n.InnerVeth, "up"},
		{"ip", "netns", "exec", n.NS, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", n.NS, "iptables", "-A", "OUTPUT", "-p", "udp", "-j", "DROP"},
		{"ip", "netns", "exec", n.NS, "iptables", "-A", "INPUT", "-p", "udp", "-j", "DROP"},
	}
	for _, s := range steps {
		if _, err := run(s[0], s[1:]...); err != nil {
			setupFailed(t, "%v", err)
		}
	}
	// The host must answer on the veth before anything relies on it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := run("ip", "netns", "exec", n.NS, "ping", "-c", "1", "-W", "1", udpBlockHostIP)
		if err == nil {
			break
		}
		if _, lookErr := exec.LookPath("ping"); lookErr != nil || time.Now().After(deadline) {
			if lookErr == nil {
				setupFailed(t, "namespace cannot reach %s: %v", udpBlockHostIP, err)
			}
			break // no ping: rely on the browser run
		}
		time.Sleep(200 * time.Millisecond)
	}
	return n
}

// droppedUDP returns the packets the namespace's UDP DROP rules matched, by chain.
func (n *udpBlockedNet) droppedUDP(t *testing.T) map[string]int64 {
	t.Helper()
	out, err := run("ip", "netns", "exec", n.NS, "iptables", "-L", "-v", "-n", "-x")
	require.NoError(t, err)
	counts := map[string]int64{}
	chain := ""
	rule := regexp.MustCompile(`^\s*(\d+)\s+\d+\s+DROP\s+(udp|17)\b`)
	for _, line := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(line, "Chain "); ok {
			chain, _, _ = strings.Cut(c, " ")
			continue
		}
		if m := rule.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			counts[chain] += v
		}
	}
	return counts
}

// freeTCPPort returns a TCP port free on all addresses right now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// TestSuperpeerUDPBlocked: real Chromium in a network namespace where every UDP packet is dropped
// (iptables inside the namespace) watches a VOD that superpeer seeds with webrtc.tcp_port set. The
// page, the tracker and superpeer are reached through the veth's host address; the viewer must
// still get most of its bytes from superpeer, over an ICE-TCP candidate pair.
func TestSuperpeerUDPBlocked(t *testing.T) {
	requireNetnsTools(t)
	requireTools(t)
	nw := newUDPBlockedNet(t)
	env := newEnvWith(t, EnvOptions{Host: udpBlockHostIP})
	tcpPort := freeTCPPort(t)
	sp := startSuperpeerWith(t, env, env.Origin.VODMaster(), func(c *seeder.Config) {
		c.WebRTC.TCPPort = tcpPort
		c.WebRTC.Interfaces = []string{nw.HostVeth} // candidates on 10.213.0.1 only
		c.WebRTC.IncludeLoopback = false
		c.WebRTC.PublicIPs = nil
	})

	url := env.PlayerURL(PlayerParams{Src: env.Origin.VODMaster(), P2PML: P2PML231, ICE: "all"})
	res := runBrowsers(t, BrowserSpec{
		Viewers: staggered(url, 1, 0, 40*time.Second),
		Netns:   nw.NS,
		// Not 127.0.0.1, so not a secure context by default: the page hashes fragments with
		// crypto.subtle, which needs one.
		ExtraArgs: []string{"--unsafely-treat-insecure-origin-as-secure=" + env.Origin.URL},
	})
	logViewers(t, env.Origin, res)
	s := res.Viewers[0].Stats

	require.Equal(t, P2PML231, s.P2PML)
	requirePlayed(t, env.Origin, 0, s)

	fromSuperpeer := s.P2PBytesFrom(superpeerPrefix)
	total := s.Bytes.HTTP + s.Bytes.P2P
	require.Positive(t, total, "viewer downloaded nothing")
	ratio := float64(fromSuperpeer) / float64(total)
	pairs := s.ICE.SelectedPairs()
	dropped := nw.droppedUDP(t)
	t.Logf("measured: UDP blocked: %d of %d bytes (%.1f %%) from superpeer over %v; superpeer sent %.0f B; UDP dropped in the namespace: %v",
		fromSuperpeer, total, 100*ratio, pairs, sp.counter(t, "superpeer_p2p_sent_bytes_total", map[string]string{"stream": "test"}), dropped)

	require.NotEmpty(t, pairs, "no selected ICE candidate pair")
	for _, p := range pairs {
		require.Contains(t, p, "/tcp", "selected pair is not TCP")
		require.Contains(t, p, udpBlockHostIP+":"+strconv.Itoa(tcpPort), "selected pair is not superpeer's ICE-TCP port")
	}
	require.Positive(t, dropped["OUTPUT"], "no UDP was dropped: the block did not take effect or Chromium never tried UDP")
	require.GreaterOrEqual(t, ratio, 0.5, "share of the viewer's bytes delivered by superpeer over TCP")
}
