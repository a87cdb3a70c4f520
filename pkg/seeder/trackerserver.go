package seeder

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/trackerserver"
)

// newTrackerServer builds the embedded WebTorrent tracker from its
// configuration. trustedToken lets superpeer's own connection hold every
// swarm of every stream, beyond the per-connection limits sized for a
// browser.
func newTrackerServer(cfg TrackerServerConfig, trustedToken string, reg prometheus.Registerer, log zerolog.Logger) (*trackerserver.Server, error) {
	proxies := make([]netip.Prefix, 0, len(cfg.TrustedProxies))
	for _, p := range cfg.TrustedProxies {
		pp, err := parseProxy(p)
		if err != nil {
			return nil, fmt.Errorf("tracker server: %w", err)
		}
		proxies = append(proxies, pp)
	}
	srv, err := trackerserver.New(trackerserver.Config{
		Interval:          cfg.Interval,
		MaxOffers:         cfg.MaxOffers,
		MaxPeers:          cfg.MaxPeers,
		MaxPeersPerIP:     cfg.MaxPeersPerIP,
		MaxPeersPerPrefix: cfg.MaxPeersPerPrefix,
		MaxPendingPerIP:   cfg.MaxPendingPerIP,
		MaxPending:        cfg.MaxPending,
		TrustedProxies:    proxies,
		MaxSwarms:         cfg.MaxSwarms,
		MaxPeersPerSwarm:  cfg.MaxPeersPerSwarm,
		AllowedOrigins:    cfg.AllowedOrigins,
		MaxMessageBytes:   int64(cfg.MaxMessageBytes),
		TrustedToken:      trustedToken,
		Logger:            log,
		Metrics:           trackerserver.NewMetrics(reg),
	})
	if err != nil {
		return nil, fmt.Errorf("tracker server: %w", err)
	}
	return srv, nil
}

// listenTracker opens the embedded tracker's listener and returns the
// server for it and the URL superpeer's own client uses to join it.
func (s *Seeder) listenTracker() (*http.Server, net.Listener, string, error) {
	ln, err := net.Listen("tcp", s.cfg.TrackerServer.Listen)
	if err != nil {
		return nil, nil, "", fmt.Errorf("tracker server: listen %s: %w", s.cfg.TrackerServer.Listen, err)
	}
	// Join through loopback when listening on every address.
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	u := "ws://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
	s.log.Info().Str("addr", ln.Addr().String()).Str("url", u).Msg("tracker server listening")
	// The tracker's server: header, body and keep-alive timeouts, and its
	// connections counted, so that sockets which never complete a request
	// or idle after one are reaped.
	// Connections not yet upgraded are bounded per address and in all.
	return s.trackerServer.NewHTTPServer(), s.trackerServer.Listener(ln), u, nil
}

// TrackerServer returns the embedded tracker's handler when
// Options.TrackerServerURL says the caller serves it, nil otherwise.
func (s *Seeder) TrackerServer() http.Handler {
	if s.trackerServer == nil || s.trackerURL == "" {
		return nil
	}
	return s.trackerServer
}

// addOwnTracker joins the embedded tracker at u as a trusted client.
func (s *Seeder) addOwnTracker(u string) error {
	return s.addTrackerWith(u, http.Header{trackerserver.TrustedTokenHeader: {s.trackerToken}})
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
