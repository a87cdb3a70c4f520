// Command loadgen measures superpeer against a plain pion seed with simulated
// P2P Media Loader browsers, both targets in the same run so that their
// ratios hold on a noisy machine.
//
// For every target and size it starts fresh processes: an external tracker
// (pkg/tracker.Server, this binary with -serve-tracker; or superpeer's
// embedded tracker with -tracker embedded), and the target under
// GOMAXPROCS=-gomaxprocs (and taskset -c -cpus, if set):
//   - superpeer: cmd/superpeer with a generated YAML config (the load
//     generator's origin, 2.2 and 2.3 swarms, loopback-only WebRTC, limits
//     raised);
//   - pion: this binary with -serve-pion, a plain pion seed of default
//     settings (pionseed.go).
//
// Both seed one synthetic HLS VOD stream that this process serves on
// 127.0.0.1 (-variants × -segments of -segment-size bytes, ChaCha8 content
// derived from the variant and segment, so every byte can be verified). The
// simulated browsers are pion peers in this process, all on a few UDP
// sockets (-browser-sockets ICE muxes). Each joins one (variant, generation)
// swarm through the tracker as a 2.2 or 2.3 browser does: a "started"
// announce with 5 offers of a data channel, answers to a seed's relayed
// offers; it keeps the first channel that opens, reads the seed's
// announcement, and leaves the tracker. Then, per size:
//   - hold (-peers N,…): N browsers arrive at -rate per second and stay idle.
//     Reported: peers held, connection setup p50/p99 (first announce → data
//     channel open), KiB per peer ((VmRSS held − VmRSS before) / held, from
//     /proc/PID/status, at the end of the idle window and its peak over the
//     window, sampled every second), idle CPU per 1,000 peers (utime+stime
//     from /proc/PID/stat over -idle, minus the target's own idle rate
//     before the browsers came), goroutines per peer (go_goroutines from the
//     target's /metrics), origin bytes fetched ÷ unique bytes. The idle
//     window (3 min) is longer than a GOGC-paced seed's first idle GC cycle
//     at any size (its garbage grows with its heap, about 2 min at 1,000
//     browsers): its memory climbs until that cycle and stays there, so a
//     figure taken sooner reads low;
//   - pull (-pull N): N browsers connect, then each requests segments back to
//     back (one at a time, as a browser does per peer) and checks each
//     against the origin's SHA-256. With -pull-mbps each browser instead
//     requests a segment every segment-size/bitrate, as a player watching at
//     that bitrate does, so the generator stays far from saturating a shared
//     box. Reported: Mbit/s delivered, the target's CPU cores, Mbit/s per
//     core, request latency p50/p99, stalls (no byte for 2 s: P2P Media
//     Loader's p2pNotReceivingBytesTimeoutMs), verification failures.
//
// Usage:
//
//	go build -o /tmp/loadgen ./cmd/loadgen
//	/tmp/loadgen                                   # hold 1000, pull 200, both targets
//	/tmp/loadgen -peers 1000,2000 -pull 200 -json /tmp/loadgen.json
//	/tmp/loadgen -pull 200 -pull-mbps 1.5         # pullers paced as 1.5 Mbit/s players
//	/tmp/loadgen -pull 200 -pull-mbps 1.5 -loss 0.02   # ... on a link losing 2 % of packets
//	/tmp/loadgen -peers 1000 -pull 100 -pull-mbps 1.5 -rtt 50ms   # ... 50 ms away
//	/tmp/loadgen -target superpeer -seed-offers -stay -browser-offers 0 -variants 1 -generations 2.3 \
//	    -peers 500 -pull 0 -join-timeout 2m -attempts 1   # how fast the seed finds a full swarm's browsers
//	/tmp/loadgen -target superpeer -udp-port 7882  # superpeer on one UDP port
//	/tmp/loadgen -target superpeer -variants 1 -generations 2.3 -peers 1000 -pull 0 -live 10
//	                                               # new live segments → 1,000 browsers' announcements
//	/tmp/loadgen -target superpeer -tracker embedded
//	/tmp/loadgen -peers 1000 -pull 0 -profile /tmp/prof   # pprof heap, goroutine, CPU
//	/tmp/loadgen -soak 61m -soak-peers 100                # churn soak: RSS, goroutines, fds stay flat
//
// Method, figures and what limits them: docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/superpeer/superpeer/pkg/wire"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		// Child modes.
		servePion      = flag.String("serve-pion", "", "run only the plain pion seed, joining this tracker URL (with -origin)")
		serveTracker   = flag.String("serve-tracker", "", "run only the tracker (pkg/tracker.Server) on this address")
		serveSuperpeer = flag.String("serve-superpeer", "", "run superpeer's seeder in this binary with this config (the profiling twin)")
		originURL      = flag.String("origin", "", "serve-pion: master playlist URL")
		cpuProfile     = flag.String("cpuprofile", "", "serve-*: write a CPU profile of the run")
		memProfile     = flag.String("memprofile", "", "serve-*: write heap (and .goroutine) profiles when stdin closes")
		interval       = flag.Duration("interval", 120*time.Second, "tracker announce interval")

		// Benchmark options.
		targets     = flag.String("target", "both", "superpeer, pion or both (interleaved in the same run)")
		peers       = flag.String("peers", "1000", "comma-separated idle peer counts to hold (0: none)")
		pull        = flag.Int("pull", 200, "browsers pulling segments, back to back unless -pull-mbps (0: no pull run)")
		duration    = flag.Duration("duration", 20*time.Second, "pull measurement window")
		pullMbps    = flag.Float64("pull-mbps", 0, "pace each puller to this many Mbit/s, as a player watching at that bitrate (0: back to back)")
		idle        = flag.Duration("idle", 3*time.Minute, "idle window: idle CPU over it, RSS sampled every second (longer than a GOGC-paced seed's GC cycle, so memory is read at its steady state)")
		settle      = flag.Duration("settle", 3*time.Second, "quiet time before memory samples")
		rate        = flag.Float64("rate", 50, "browser arrivals per second")
		gomaxprocs  = flag.Int("gomaxprocs", 2, "GOMAXPROCS of the targets (a 2-core node)")
		cpus        = flag.String("cpus", "", "taskset -c CPU list for the targets (empty: not bound)")
		trackerKind = flag.String("tracker", "go", "go: an external pkg/tracker.Server process; embedded: superpeer's tracker_server (pion then uses go)")
		udpPort     = flag.Int("udp-port", 0, "superpeer webrtc.udp_port (0: a socket per connection)")
		seedOffers  = flag.Bool("seed-offers", false, "let superpeer send offers (its default); off, it only answers, like the pion seed")
		variants    = flag.Int("variants", 4, "variants of the synthetic stream")
		segments    = flag.Int("segments", 30, "segments per variant")
		segSize     = flag.Int("segment-size", 1<<20, "bytes per segment")
		gens        = flag.String("generations", "2.2,2.3", "browser generations, spread over the swarms")
		sockets     = flag.Int("browser-sockets", -1, "UDP sockets (ICE muxes) shared by the simulated browsers; 0: a socket per connection (default 4, or 0 with -udp-port)")
		live        = flag.Int("live", 0, "make the stream live and publish this many segments, one per target duration (4 s), after the idle window; reports how long each took to reach every held browser's announcement (superpeer only)")
		loss        = flag.Float64("loss", 0, "fraction of the datagrams each simulated browser receives that is dropped at random, a lossy last mile (needs -browser-sockets > 0)")
		rtt         = flag.Duration("rtt", 0, "added to every round trip between a simulated browser and the seed: each browser holds the datagrams it receives this long, a distant viewer (needs -browser-sockets > 0)")
		joinTimeout = flag.Duration("join-timeout", 5*time.Second, "per announce: wait this long for a data channel before announcing again")
		brOffers    = flag.Int("browser-offers", 5, "offers per browser announce (P2P Media Loader 2.x: 5; 0: none, a 5.x page with 50 peers, which only the seed's offers reach)")
		stay        = flag.Bool("stay", false, "connected browsers stay on the tracker as real pages do, instead of leaving it so that every offer reaches the seed: measures how the seed finds browsers in a full swarm (use with -seed-offers)")
		attempts    = flag.Int("attempts", 5, "announces per browser before it counts as failed")
		spBin       = flag.String("superpeer-bin", "", "cmd/superpeer binary (default: go build ./cmd/superpeer)")
		profileDir  = flag.String("profile", "", "write target profiles here; superpeer then runs as its in-process twin")
		jsonOut     = flag.String("json", "", "also write the results as JSON to this file")

		// Churn soak.
		soak          = flag.Duration("soak", 0, "run the churn soak for this long instead of the benchmark (superpeer only)")
		soakPeers     = flag.Int("soak-peers", 100, "soak: browsers connected or connecting at any time")
		soakLife      = flag.Duration("soak-life", 30*time.Second, "soak: mean time a browser stays connected")
		soakRef       = flag.Duration("soak-ref", 5*time.Minute, "soak: when the rest whose sample the end is compared with starts")
		soakRest      = flag.Duration("soak-rest", 30*time.Second, "soak: quiet time (no pulls, joins or departures) before each verdict sample; longer than the seed's ICE failure timeout (20 s)")
		soakEvery     = flag.Duration("soak-every", 30*time.Second, "soak: sample interval")
		soakTolerance = flag.Float64("soak-tolerance", 0.10, "soak: allowed growth of RSS, goroutines and fds from -soak-ref to the end")
	)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	switch {
	case *servePion != "":
		if err := runPionSeed(ctx, pionOptions{tracker: *servePion, origin: *originURL, cpuProfile: *cpuProfile, memProfile: *memProfile}); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen -serve-pion:", err)
			return 1
		}
		return 0
	case *serveTracker != "":
		if err := runServeTracker(ctx, *serveTracker, *interval); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen -serve-tracker:", err)
			return 1
		}
		return 0
	case *serveSuperpeer != "":
		if err := runServeSuperpeer(ctx, *serveSuperpeer, *cpuProfile, *memProfile); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen -serve-superpeer:", err)
			return 1
		}
		return 0
	}

	spec := mediaSpec{variants: *variants, segments: *segments, segSize: *segSize, duration: 4, live: *live}
	sizes, err := parseSizes(*peers)
	if err == nil {
		err = spec.validate()
	}
	var order []string
	switch *targets {
	case "both":
		order = []string{"superpeer", "pion"}
	case "superpeer", "pion":
		order = []string{*targets}
	default:
		err = fmt.Errorf("-target %q: want superpeer, pion or both", *targets)
	}
	if *live > 0 && *targets != "superpeer" {
		err = errors.New("-live needs -target superpeer: the plain pion seed loads its stream once")
	}
	if *trackerKind != "go" && *trackerKind != "embedded" {
		err = fmt.Errorf("-tracker %q: want go or embedded", *trackerKind)
	}
	var generations []wire.Generation
	for _, g := range strings.Split(*gens, ",") {
		switch wire.Generation(strings.TrimSpace(g)) {
		case wire.Gen22, wire.Gen23:
			generations = append(generations, wire.Generation(strings.TrimSpace(g)))
		default:
			err = fmt.Errorf("-generations: %q is not 2.2 or 2.3", g)
		}
	}
	if *sockets < 0 {
		*sockets = 4
		if *udpPort > 0 {
			*sockets = 0
		}
	}
	if *loss < 0 || *loss >= 1 || (*loss > 0 && *sockets == 0) {
		err = errors.New("want 0 <= -loss < 1, and -browser-sockets > 0 with -loss")
	}
	if *rtt < 0 || (*rtt > 0 && *sockets == 0) {
		err = errors.New("want -rtt >= 0, and -browser-sockets > 0 with -rtt")
	}
	if *brOffers < 0 || *brOffers > 20 {
		err = errors.New("want 0 <= -browser-offers <= 20")
	}
	if *rate <= 0 || *attempts < 1 {
		err = errors.New("want -rate > 0, -attempts >= 1")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	if soft, hard, err := raiseFDLimit(); err == nil {
		logf("fd limit %d (hard %d)", soft, hard)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	work, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	defer os.RemoveAll(work)
	if *spBin == "" && slicesContains(order, "superpeer") && *profileDir == "" {
		*spBin = filepath.Join(work, "superpeer")
		logf("building cmd/superpeer")
		cmd := exec.Command("go", "build", "-o", *spBin, "./cmd/superpeer")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: go build ./cmd/superpeer (run from the repository root, or pass -superpeer-bin):", err)
			return 1
		}
	}
	if *profileDir != "" {
		if err := os.MkdirAll(*profileDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 1
		}
	}

	org, err := newOrigin(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	defer org.close()
	masterBody, err := httpGet(org.masterURL())
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	swarms, err := streamSwarms(org.masterURL(), masterBody, generations)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	apis, closers, err := browserAPIs(*sockets, *loss, *rtt)
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}

	maxPeers := *pull
	for _, n := range sizes {
		maxPeers = max(maxPeers, n)
	}
	if *soak > 0 {
		maxPeers = 2 * *soakPeers
	}
	topts := targetOptions{
		self: self, superpeerBin: *spBin, workDir: work, trackerKind: *trackerKind, interval: *interval,
		gomaxprocs: *gomaxprocs, cpus: *cpus, udpPort: *udpPort, seedOffers: *seedOffers, profileDir: *profileDir,
		maxPeers: maxPeers, cacheBytes: spec.uniqueBytes(), originURL: org.masterURL(),
	}
	certs, err := newCertificates()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	rc := runConfig{rate: *rate, settle: *settle, idle: *idle, duration: *duration, joinTimeout: *joinTimeout, attempts: *attempts, certs: certs,
		offers: browserOffers(*brOffers), stay: *stay,
		publish: time.Duration(spec.duration * float64(time.Second))}
	if *pullMbps > 0 {
		rc.pullEvery = time.Duration(float64(spec.segSize*8) / (*pullMbps * 1e6) * float64(time.Second))
	}
	logf("machine: %s", machineSummary())
	logf("stream: %d variants × %d segments × %d B, %d swarms (%s)", spec.variants, spec.segments, spec.segSize, len(swarms), *gens)
	if *soak > 0 {
		if *soak < *soakRef+2*(*soakRest+restSamples*time.Second+time.Second) {
			fmt.Fprintf(os.Stderr, "loadgen: -soak %s leaves no room for two rests of %s after -soak-ref %s\n", *soak, *soakRest, *soakRef)
			return 2
		}
		cfg := soakConfig{duration: *soak, reference: *soakRef, rest: *soakRest, every: *soakEvery, population: *soakPeers, lifetime: *soakLife, tolerance: *soakTolerance}
		t, err := startSuperpeer(ctx, topts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 1
		}
		r, err := runSoak(ctx, t, org, swarms, apis, rc, cfg)
		t.stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen -soak:", err)
			return 1
		}
		if err := printSoak(os.Stdout, r, cfg, *jsonOut); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 1
		}
		if !r.Pass {
			return 1
		}
		return 0
	}

	type plan struct {
		n    int
		pull bool
	}
	var plans []plan
	for _, n := range sizes {
		plans = append(plans, plan{n, false})
	}
	if *pull > 0 {
		plans = append(plans, plan{*pull, true})
	}
	var results []result
	for _, p := range plans {
		for _, name := range order {
			if ctx.Err() != nil {
				break
			}
			org.reset()
			var t *target
			if name == "superpeer" {
				t, err = startSuperpeer(ctx, topts)
			} else {
				o := topts
				o.trackerKind = "go"
				t, err = startPion(ctx, o)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "loadgen:", err)
				return 1
			}
			r, err := measure(ctx, t, org, swarms, apis, p.n, p.pull, rc)
			t.stop()
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "loadgen: %s with %d peers: %v\n", name, p.n, err)
				return 1
			}
			results = append(results, r)
			logf("%s", figureLine(r))
			sleep(ctx, 2*time.Second) // let the sockets of the last run close
		}
	}
	pacing := "back to back"
	if *pullMbps > 0 {
		pacing = fmt.Sprintf("paced at %g Mbit/s each", *pullMbps)
	}
	if *loss > 0 {
		pacing += fmt.Sprintf(", %g%% of received datagrams dropped", *loss*100)
	}
	if *rtt > 0 {
		pacing += fmt.Sprintf(", %s added to each round trip", *rtt)
	}
	header := fmt.Sprintf("Machine: %s\nTargets: GOMAXPROCS=%d, cpus %q, tracker %s, superpeer udp_port %d; stream %d×%d×%d B; arrivals %.0f/s; idle window %s; pull window %s, pullers %s.",
		machineSummary(), *gomaxprocs, *cpus, *trackerKind, *udpPort, spec.variants, spec.segments, spec.segSize, *rate, *idle, *duration, pacing)
	printReport(os.Stdout, header, results)
	if *jsonOut != "" {
		cfg := map[string]any{
			"targets": order, "peers": sizes, "pull": *pull, "duration": duration.String(), "idle": idle.String(),
			"rate": *rate, "pull_mbps": *pullMbps, "gomaxprocs": *gomaxprocs, "cpus": *cpus, "tracker": *trackerKind, "udp_port": *udpPort,
			"seed_offers": *seedOffers, "variants": spec.variants, "segments": spec.segments, "segment_size": spec.segSize,
			"generations": *gens, "browser_sockets": *sockets, "loss": *loss, "rtt": rtt.String(), "live": *live,
			"browser_offers": *brOffers, "stay": *stay,
		}
		if err := writeJSON(*jsonOut, cfg, results); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 1
		}
	}
	return 0
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-peers: bad count %q", f)
		}
		if n > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func httpGet(u string) ([]byte, error) {
	resp, err := metricsClient.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", u, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// browserOffers maps -browser-offers to browserEnv.offers, where 0 stands
// for the default and none is negative.
func browserOffers(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
