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
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/superpeer/superpeer/pkg/trackerserver"
)

type serveOptions struct {
	addr       string
	cpuProfile string        // file for a CPU profile of the whole run
	memProfile string        // file for a heap profile at exit
	memStats   time.Duration // log runtime memory statistics this often (0: never)
	mutexProf  string        // file for a mutex contention profile at exit
	interval   time.Duration
	maxConns   int
	msgRate    float64
	maxOffers  int
}

// runServe runs trackerserver.Server alone on opts.addr until ctx ends or stdin
// reaches EOF (the parent benchmark went away), printing {"addr","pid"} once
// it listens.
func runServe(ctx context.Context, opts serveOptions) error {
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	srv, err := trackerserver.New(trackerserver.Config{
		Interval: opts.interval,
		MaxPeers: opts.maxConns,
		// Every benchmark client comes from loopback.
		MaxPeersPerIP:     opts.maxConns,
		MaxPeersPerPrefix: opts.maxConns,
		MaxOffers:         opts.maxOffers,
		MaxMessageRate:    opts.msgRate,
		Logger:            log,
		Metrics:           trackerserver.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		return err
	}
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if opts.mutexProf != "" {
		runtime.SetMutexProfileFraction(1)
		defer func() {
			if f, err := os.Create(opts.mutexProf); err == nil {
				_ = pprof.Lookup("mutex").WriteTo(f, 0)
				_ = f.Close()
			}
		}()
	}
	if opts.memProfile != "" {
		defer func() {
			if f, err := os.Create(opts.memProfile); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				_ = f.Close()
			}
		}()
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", opts.addr, err)
	}
	hello, err := json.Marshal(map[string]any{"addr": ln.Addr().String(), "pid": os.Getpid()})
	if err != nil {
		return err
	}
	fmt.Println(string(hello))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// Stop when the parent closes our stdin (or dies).
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if opts.memStats > 0 {
		go logMemStats(ctx, srv, opts.memStats)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, scancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
		defer scancel()
		// Shutdown does not wait for hijacked (WebSocket) connections;
		// Server.Run closes those with 1001.
		return hs.Shutdown(sctx)
	})
	return g.Wait()
}

// logMemStats prints the Go runtime's view of memory to stderr, to explain RSS.
func logMemStats(ctx context.Context, srv *trackerserver.Server, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		st := srv.Stats()
		fmt.Fprintf(os.Stderr, "memstats: conns %d goroutines %d heap_inuse %d MiB heap_alloc %d MiB stack_inuse %d MiB sys %d MiB other %d MiB gc %d\n",
			st.Connections, runtime.NumGoroutine(), m.HeapInuse>>20, m.HeapAlloc>>20, m.StackInuse>>20, m.Sys>>20,
			(m.MSpanInuse+m.MCacheInuse+m.BuckHashSys+m.GCSys+m.OtherSys)>>20, m.NumGC)
	}
}
