// Command trackerbench measures WebTorrent trackers under a browser-like load
// and prints a comparison table: our pkg/trackerserver.Server (run as a separate
// process by this same binary, -serve) against the npm bittorrent-tracker
// server (node, bt-server.mjs), in the same run.
//
// For every tracker and connection count it starts a fresh tracker process,
// opens N WebSocket clients (each in -swarms-per-conn swarms, announcing
// with -offers SDP offers of -sdp-bytes like a browser, answering every offer
// relayed to it), then measures:
//   - connections held, and RSS per connection (VmRSS of the tracker process
//     before and after, /proc/PID/status);
//   - a steady phase at -rate announces per second: CPU per message
//     (utime+stime of the tracker from /proc/PID/stat, over the messages the
//     tracker received and sent), announce→response RTT p50/p99;
//   - a saturation phase (closed loop: -saturate-clients clients re-announce
//     as soon as the response arrives): sustained announces and messages per
//     second on this box, with the load generator sharing its cores.
//
// Usage:
//
//	go build -o /tmp/trackerbench ./cmd/trackerbench
//	/tmp/trackerbench                       # defaults, about 2 minutes
//	/tmp/trackerbench -conns 1000,5000,10000 -trackers go,node
//	/tmp/trackerbench -serve 127.0.0.1:8000 # only our tracker, until SIGTERM or stdin EOF
//
// With -serve, -interval, -max-conns, -msg-rate and -max-offers configure the
// tracker, and -cpuprofile, -memprofile, -mutexprofile and -memstats profile
// it; in benchmark mode -serve-args passes such flags to the child. Method,
// figures and their interpretation: docs/tracker-benchmark.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		serve = flag.String("serve", "", "run only the tracker server on this address (host:port) and print {\"addr\",\"pid\"}")
		// Server options (-serve).
		interval  = flag.Duration("interval", 120*time.Second, "serve: announce interval told to clients")
		maxConns  = flag.Int("max-conns", 100000, "serve: connection limit")
		msgRate   = flag.Float64("msg-rate", -1, "serve: messages per second per connection (-1: unlimited, to measure capacity)")
		maxOffers = flag.Int("max-offers", 20, "serve: offers relayed per announce")
		cpuProf   = flag.String("cpuprofile", "", "serve: write a CPU profile of the run to this file")
		memProf   = flag.String("memprofile", "", "serve: write a heap profile at exit to this file")
		memStats  = flag.Duration("memstats", 0, "serve: log Go runtime memory statistics to stderr this often")
		mutexProf = flag.String("mutexprofile", "", "serve: write a mutex contention profile at exit to this file")
		serveArgs = flag.String("serve-args", "", "extra flags for the -serve child, space separated (e.g. \"-cpuprofile /tmp/cpu.out\")")

		// Benchmark options.
		trackers      = flag.String("trackers", "go,node", "trackers to measure: go (ours), node (npm bittorrent-tracker)")
		conns         = flag.String("conns", "1000,10000", "comma-separated connection counts")
		swarms        = flag.Int("swarms", 100, "distinct swarms (info hashes)")
		swarmsPerConn = flag.Int("swarms-per-conn", 2, "swarms each connection joins (one peer id, as P2PML 0.6 / bittorrent-tracker expect)")
		offers        = flag.Int("offers", 5, "offers per announce (browsers: 5; P2PML 0.6.2 CDN build: 10)")
		sdpBytes      = flag.Int("sdp-bytes", 1300, "size of each offer and answer SDP")
		rate          = flag.Float64("rate", 1000, "steady phase: announces per second over all connections")
		steady        = flag.Duration("steady", 12*time.Second, "steady phase duration")
		saturate      = flag.Duration("saturate", 8*time.Second, "saturation phase duration (0 skips it)")
		satClients    = flag.Int("saturate-clients", 1000, "clients re-announcing in a closed loop during saturation")
		settle        = flag.Duration("settle", 3*time.Second, "wait after connecting before measuring memory")
		concurrency   = flag.Int("connect-concurrency", 64, "WebSocket handshakes in flight while connecting")
		deflate       = flag.Bool("deflate", false, "clients negotiate permessage-deflate (browsers do)")
		nodeModules   = flag.String("node-modules", "test/interop/node_modules", "node_modules with bittorrent-tracker")
		nodeBin       = flag.String("node", "node", "node binary")
		jsonOut       = flag.String("json", "", "also write the results as JSON to this file")
	)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if *serve != "" {
		if err := runServe(ctx, serveOptions{addr: *serve, interval: *interval, maxConns: *maxConns, msgRate: *msgRate,
			maxOffers: *maxOffers, cpuProfile: *cpuProf, memProfile: *memProf, memStats: *memStats, mutexProf: *mutexProf}); err != nil {
			fmt.Fprintln(os.Stderr, "trackerbench -serve:", err)
			return 1
		}
		return 0
	}

	sizes, err := parseInts(*conns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trackerbench: -conns:", err)
		return 2
	}
	if soft, hard, err := raiseFDLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "trackerbench: raise fd limit:", err)
	} else {
		logf("fd limit %d (hard %d)", soft, hard)
		for _, n := range sizes {
			if uint64(n)+256 > soft {
				logf("warning: %d connections need more than the fd limit %d (raise the hard limit: ulimit -Hn)", n, soft)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "trackerbench:", err)
		return 1
	}
	modules, err := filepath.Abs(*nodeModules)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trackerbench:", err)
		return 1
	}
	cfg := loadConfig{
		swarms: *swarms, swarmsPerConn: *swarmsPerConn, offers: *offers, sdpBytes: *sdpBytes,
		rate: *rate, steady: *steady, saturate: *saturate, saturateClients: *satClients, settle: *settle,
		concurrency: *concurrency, deflate: *deflate,
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "trackerbench:", err)
		return 2
	}
	logf("machine: %s", machineSummary())

	var results []result
	for _, n := range sizes {
		for _, name := range strings.Split(*trackers, ",") {
			if ctx.Err() != nil {
				break
			}
			var tp *trackerProc
			switch strings.TrimSpace(name) {
			case "go":
				tp, err = startGoTracker(ctx, self, *interval, strings.Fields(*serveArgs))
			case "node":
				tp, err = startNodeTracker(ctx, *nodeBin, modules)
			default:
				err = fmt.Errorf("unknown tracker %q", name)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "trackerbench:", err)
				return 1
			}
			c := cfg
			c.conns = n
			r, err := measure(ctx, tp, c)
			tp.stop()
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "trackerbench: %s with %d connections: %v\n", tp.name, n, err)
				return 1
			}
			results = append(results, r)
			logf("%s", r.summary())
		}
	}
	printTable(os.Stdout, cfg, results)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, cfg, results); err != nil {
			fmt.Fprintln(os.Stderr, "trackerbench:", err)
			return 1
		}
	}
	return 0
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
