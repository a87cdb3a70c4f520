// Command superpeer seeds HLS streams to P2P Media Loader browser swarms.
//
//	superpeer demo [-addr HOST:PORT]     the one-command demo, offline
//	superpeer -config superpeer.yaml     seed the configured streams
//	superpeer -check-config -config F    validate F and exit
//	superpeer -version
//
// This file holds flags and wiring only; everything else lives in pkg/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/demo"
	"github.com/superpeer/superpeer/pkg/gcpace"
	"github.com/superpeer/superpeer/pkg/seeder"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs passed in, so exit codes are testable.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "demo" {
		return runDemo(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("superpeer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path of the YAML configuration (see docs/config.md)")
	checkConfig := fs.Bool("check-config", false, "validate the configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "json", "log format: json or console")
	watch := fs.Duration("watch-config", 5*time.Second, "how often to check the configuration file for changes (0: only on SIGHUP)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: superpeer -config FILE [flags]\n       superpeer demo [-addr HOST:PORT]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "superpeer: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "superpeer", buildVersion())
		return 0
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "superpeer: -config is required")
		fs.Usage()
		return 2
	}
	cfg, err := seeder.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "superpeer: invalid configuration:\n%v\n", err)
		return 1
	}
	if *checkConfig {
		fmt.Fprintf(stdout, "%s: ok (%d streams, %d trackers)\n", *configPath, len(cfg.Streams), len(cfg.Trackers))
		return 0
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "superpeer: %v\n", err)
		return 2
	}

	// GOGC sets the GC headroom outside the segment cache (docs/operations.md).
	headroom := gcpace.FromGOGC(os.Getenv("GOGC"))
	s, err := seeder.New(cfg, seeder.Options{Logger: log, Registry: newRegistry(), Version: buildVersion(), GCHeadroom: headroom})
	if err != nil {
		log.Error().Err(err).Msg("start")
		return 1
	}
	ctx, stop := signalContext()
	defer stop()
	// SIGHUP and a changed file reload the configuration (docs/operations.md).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	interval := *watch
	if interval <= 0 {
		interval = 24 * time.Hour * 365 // effectively only on SIGHUP
	}
	go s.WatchConfig(ctx, *configPath, interval, reload)
	if err := s.Run(ctx); err != nil {
		log.Error().Err(err).Msg("stopped with an error")
		return 1
	}
	return 0
}

// runDemo is "superpeer demo": origin, tracker, superpeer and a player
// page on one address, offline.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("superpeer demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address of the demo page, media, tracker, /metrics and /status")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "console", "log format: json or console")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: superpeer demo [-addr HOST:PORT]\n\n"+
			"Serves test streams (HLS live and VOD, DASH VOD), a WebTorrent tracker, superpeer\n"+
			"seeding them and a player page (hls.js, and Shaka for DASH) charting bytes from\n"+
			"HTTP, other browsers and superpeer.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "superpeer: %v\n", err)
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	err = demo.Run(ctx, demo.Options{
		Addr:     *addr,
		Logger:   log,
		Registry: newRegistry(),
		Version:  buildVersion(),
		// Paced like the main command, so that the demo's metrics and
		// dashboards show what production does.
		GCHeadroom: gcpace.FromGOGC(os.Getenv("GOGC")),
		Listening: func(url string) {
			fmt.Fprintf(stdout, "superpeer demo: open %s in a browser (Ctrl-C stops)\n", url)
		},
	})
	if err != nil {
		log.Error().Err(err).Msg("demo stopped with an error")
		return 1
	}
	return 0
}

// newRegistry is the process's private metrics registry: Go runtime,
// process and build information, then whatever the components register.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	prometheus.WrapRegistererWith(prometheus.Labels{"version": buildVersion()}, reg).MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "superpeer_build_info", Help: "Always 1; the version label names the build."},
			func() float64 { return 1 }),
	)
	return reg
}

// signalContext is cancelled by SIGINT or SIGTERM; a second signal kills
// the process at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// newLogger builds the process logger: JSON on stderr, or a console format
// for people.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Logger{}, fmt.Errorf("-log-format %q: want json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// buildVersion is the -ldflags version, else the module version Go recorded.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
