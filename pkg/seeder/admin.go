package seeder

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the admin endpoints: /metrics, /healthz (the process is
// up), /readyz (every stream has its playlists and has joined its swarms),
// and /status with /status.json (what superpeer is doing, at a glance).
func (s *Seeder) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.serveStatus)
	mux.HandleFunc("GET /status.json", s.serveStatusJSON)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: 8,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if why := s.notReady(); len(why) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, line := range why {
				fmt.Fprintln(w, line)
			}
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// startAdmin opens the admin listener (unless one was given) so a port
// conflict fails Run at once. It returns nil when http.listen is empty.
func (s *Seeder) startAdmin() (*http.Server, error) {
	if s.adminLn == nil {
		if s.cfg.HTTP.Listen == "" {
			return nil, nil
		}
		ln, err := net.Listen("tcp", s.cfg.HTTP.Listen)
		if err != nil {
			return nil, fmt.Errorf("admin http: listen %s: %w", s.cfg.HTTP.Listen, err)
		}
		s.adminLn = ln
	}
	s.log.Info().Str("addr", s.adminLn.Addr().String()).Msg("admin http listening")
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}, nil
}
