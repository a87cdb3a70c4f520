package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// target is a seed under measurement, running as a child process.
type target struct {
	name       string // "superpeer" or "pion"
	proc       *child
	pid        int
	metricsURL string
	trackerURL string // where the browsers announce
	tracker    *child // the external tracker, nil when superpeer embeds it
	profiling  bool   // a child of this binary writing profiles (SIGUSR1 starts its CPU profile)
}

func (t *target) stop() {
	t.proc.stop()
	if t.tracker != nil {
		t.tracker.stop()
	}
}

// targetOptions say how targets are started.
type targetOptions struct {
	self         string // this binary
	superpeerBin string // cmd/superpeer
	workDir      string // generated configs
	trackerKind  string // "go" (external pkg/tracker.Server) or "embedded"
	interval     time.Duration
	gomaxprocs   int
	cpus         string // taskset CPU list, "" for none
	udpPort      int    // superpeer webrtc.udp_port, 0 for none
	seedOffers   bool   // let superpeer offer (its default); off: it only answers, like the pion fixture
	profileDir   string // profile the targets (superpeer through its in-process twin)
	maxPeers     int
	cacheBytes   int64
	originURL    string
}

// command builds the target's command line with GOMAXPROCS and taskset.
func (o targetOptions) command(name string, args ...string) *exec.Cmd {
	if o.cpus != "" {
		args = append([]string{"-c", o.cpus, name}, args...)
		name = "taskset"
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(o.gomaxprocs))
	return cmd
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startTracker runs this binary with -serve-tracker (not under GOMAXPROCS:
// the tracker is not measured).
func startTracker(ctx context.Context, o targetOptions) (*child, string, error) {
	cmd := exec.Command(o.self, "-serve-tracker", "127.0.0.1:0", "-interval", o.interval.String())
	c, err := startChild("tracker", cmd)
	if err != nil {
		return nil, "", err
	}
	var hello struct {
		Addr string `json:"addr"`
	}
	if err := c.readHello(ctx, &hello); err != nil {
		c.stop()
		return nil, "", err
	}
	return c, "ws://" + hello.Addr, nil
}

// superpeerConfig is the generated YAML: one stream from the load
// generator's origin, 2.2 and 2.3 swarms, loopback-only WebRTC, limits
// raised above the run's peer count.
func superpeerConfig(o targetOptions, trackerURL, trackerListen string, adminPort int) string {
	var b strings.Builder
	if trackerListen == "" {
		fmt.Fprintf(&b, "trackers: [%q]\n", trackerURL)
	} else {
		// superpeer joins its own tracker on its own, trusted; listed here
		// too, it would join a second time under the same peer id and be
		// refused over and over.
		b.WriteString("trackers: []\n")
	}
	if trackerListen != "" {
		// Every simulated browser comes from loopback: no per-source limit.
		fmt.Fprintf(&b, "tracker_server:\n  listen: %q\n  interval: %s\n  max_peers: %d\n  max_peers_per_swarm: %d\n"+
			"  max_peers_per_ip: %[3]d\n  max_peers_per_prefix: %[3]d\n  max_pending_per_ip: %[3]d\n  max_pending: %[3]d\n",
			trackerListen, o.interval, o.maxPeers+1000, o.maxPeers+1000)
	}
	b.WriteString("webrtc:\n  ice_servers: []\n  include_loopback: true\n  interfaces: [lo]\n")
	if o.udpPort > 0 {
		fmt.Fprintf(&b, "  udp_port: %d\n", o.udpPort)
	}
	fmt.Fprintf(&b, "http:\n  listen: \"127.0.0.1:%d\"\n", adminPort)
	fmt.Fprintf(&b, "cache:\n  max_bytes: %dMiB\n", o.cacheBytes>>20+64)
	fmt.Fprintf(&b, "peers:\n  max: %d\n  max_per_swarm: %d\n", o.maxPeers+1000, o.maxPeers+1000)
	if !o.seedOffers {
		b.WriteString("  max_pending_offers: 0\n")
	}
	fmt.Fprintf(&b, "streams:\n  - id: vod\n    url: %q\n    generations: [\"2.2\", \"2.3\"]\n", o.originURL)
	return b.String()
}

func startSuperpeer(ctx context.Context, o targetOptions) (*target, error) {
	t := &target{name: "superpeer"}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := ""
	if o.trackerKind == "embedded" {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		listen = "127.0.0.1:" + strconv.Itoa(p)
		t.trackerURL = "ws://" + listen
	} else {
		t.tracker, t.trackerURL, err = startTracker(ctx, o)
		if err != nil {
			return nil, err
		}
	}
	cfgPath := filepath.Join(o.workDir, "superpeer.yaml")
	yml := superpeerConfig(o, t.trackerURL, listen, adminPort)
	if _, err := parseSuperpeerConfig([]byte(yml)); err != nil {
		if t.tracker != nil {
			t.tracker.stop()
		}
		return nil, fmt.Errorf("generated superpeer config: %w", err)
	}
	if err := os.WriteFile(cfgPath, []byte(yml), 0o644); err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	if o.profileDir != "" {
		cmd = o.command(o.self, "-serve-superpeer", cfgPath,
			"-cpuprofile", filepath.Join(o.profileDir, "superpeer.cpu"),
			"-memprofile", filepath.Join(o.profileDir, "superpeer.heap"))
	} else {
		cmd = o.command(o.superpeerBin, "-config", cfgPath, "-log-level", "warn")
	}
	t.proc, err = startChild("superpeer", cmd)
	if err != nil {
		if t.tracker != nil {
			t.tracker.stop()
		}
		return nil, err
	}
	t.pid = t.proc.pid()
	t.profiling = o.profileDir != ""
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	t.metricsURL = admin + "/metrics"
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := metricsClient.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return t, nil
			}
		}
		if t.proc.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			t.stop()
			return nil, fmt.Errorf("superpeer not ready on %s/readyz", admin)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func startPion(ctx context.Context, o targetOptions) (*target, error) {
	t := &target{name: "pion"}
	var err error
	t.tracker, t.trackerURL, err = startTracker(ctx, o)
	if err != nil {
		return nil, err
	}
	args := []string{"-serve-pion", t.trackerURL, "-origin", o.originURL}
	if o.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(o.profileDir, "pion.cpu"), "-memprofile", filepath.Join(o.profileDir, "pion.heap"))
	}
	t.proc, err = startChild("pion seed", o.command(o.self, args...))
	if err != nil {
		t.tracker.stop()
		return nil, err
	}
	var hello struct {
		PID     int    `json:"pid"`
		Metrics string `json:"metrics"`
	}
	if err := t.proc.readHello(ctx, &hello); err != nil {
		t.stop()
		return nil, err
	}
	t.pid, t.metricsURL = t.proc.pid(), hello.Metrics
	t.profiling = o.profileDir != ""
	return t, nil
}
