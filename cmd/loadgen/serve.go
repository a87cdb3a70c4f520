package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/superpeer/superpeer/pkg/gcpace"
	"github.com/superpeer/superpeer/pkg/seeder"
	"github.com/superpeer/superpeer/pkg/trackerserver"
)

// runServeTracker runs pkg/tracker.Server alone (the external tracker both
// targets join) until ctx ends or stdin closes, printing {"addr","pid"}.
func runServeTracker(ctx context.Context, addr string, interval time.Duration) error {
	srv, err := trackerserver.New(trackerserver.Config{
		Interval: interval,
		MaxPeers: 100000,
		// Every simulated browser comes from loopback.
		MaxPeersPerIP:     100000,
		MaxPeersPerPrefix: 100000,
		MaxOffers:         20,
		MaxMessageRate:    -1,
		Logger:            zerolog.New(os.Stderr).Level(zerolog.WarnLevel),
		Metrics:           trackerserver.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	hello, _ := json.Marshal(map[string]any{"addr": ln.Addr().String(), "pid": os.Getpid()})
	fmt.Println(string(hello))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, scancel := context.WithTimeout(context.WithoutCancel(gctx), 3*time.Second)
		defer scancel()
		return hs.Shutdown(sctx)
	})
	return g.Wait()
}

// runServeSuperpeer is the profiling twin of cmd/superpeer: the same
// seeder.LoadConfig → seeder.New → Run wiring with the same registry
// collectors, in this binary, so that a CPU profile covers the run and heap
// and goroutine profiles are written when stdin closes (while the peers are
// still held). cmd/superpeer has no profiling flag; figures come from the
// real binary, profiles from this twin (-profile).
func runServeSuperpeer(ctx context.Context, configPath, cpuProfile, memProfile string) error {
	cfg, err := seeder.LoadConfig(configPath)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	headroom := gcpace.FromGOGC(os.Getenv("GOGC")) // as cmd/superpeer does
	s, err := seeder.New(cfg, seeder.Options{Logger: log, Registry: reg, Version: "loadgen-twin", GCHeadroom: headroom})
	if err != nil {
		return err
	}
	stop, err := startProfiles(cpuProfile, memProfile)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return s.Run(ctx)
}

// startProfiles arranges the profiles of a target: SIGUSR1 starts a CPU
// profile to cpuPath and SIGUSR2 stops it and writes heap and goroutine
// profiles (memPath). The load generator sends them at the start and end of
// the idle window, so the profiles show peers being held, not connecting or
// closing. The returned func writes whatever was not written yet.
func startProfiles(cpuPath, memPath string) (func(), error) {
	if cpuPath == "" && memPath == "" {
		return func() {}, nil
	}
	var f *os.File
	if cpuPath != "" {
		var err error
		if f, err = os.Create(cpuPath); err != nil {
			return nil, err
		}
	}
	var mu sync.Mutex
	cpuOn, memDone := false, false
	finish := func() { // with mu held
		if cpuOn {
			pprof.StopCPUProfile()
			cpuOn = false
		}
		if memPath != "" && !memDone {
			writeProfiles(memPath)
			memDone = true
		}
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range sig {
			mu.Lock()
			if s == syscall.SIGUSR1 && f != nil && !cpuOn && !memDone {
				cpuOn = pprof.StartCPUProfile(f) == nil
			} else if s == syscall.SIGUSR2 {
				finish()
			}
			mu.Unlock()
		}
	}()
	return func() {
		signal.Stop(sig)
		mu.Lock()
		defer mu.Unlock()
		finish()
		if f != nil {
			_ = f.Close()
		}
	}, nil
}

// writeProfiles writes a heap profile to path and a goroutine profile to
// path with ".heap" replaced by ".goroutine" (or appended).
func writeProfiles(path string) {
	gpath := strings.TrimSuffix(path, ".heap") + ".goroutine"
	for _, p := range []struct{ name, path string }{{"heap", path}, {"goroutine", gpath}} {
		f, err := os.Create(p.path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: profile:", err)
			continue
		}
		_ = pprof.Lookup(p.name).WriteTo(f, 0)
		_ = f.Close()
	}
}

// parseSuperpeerConfig checks a generated config the way superpeer loads it.
func parseSuperpeerConfig(b []byte) (seeder.Config, error) {
	return seeder.ParseConfig(b, "superpeer.yaml")
}
