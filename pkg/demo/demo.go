// Package demo runs superpeer's one-command demo: on one listener it serves
// an origin with small test streams (an HLS VOD, a live simulation looping
// over the same segments, and a DASH VOD), the embedded WebTorrent tracker,
// superpeer seeding all three, and a web page where a real player (hls.js +
// P2P Media Loader 2.3 for HLS, Shaka Player + P2P Media Loader 2.2.2 for
// DASH) charts how many of its bytes came from the origin, from other
// browsers and from superpeer. /metrics and the status page are on
// the same listener. It needs no network beyond the machine.
//
// The media (media/) is made by scripts/make-demo-media with ffmpeg and
// committed; the page's own files (web/) are ours; the third-party
// JavaScript (thirdparty/) is copied from npm at build time by gen.sh and
// embedded, never committed.
package demo

//go:generate ./gen.sh

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/superpeer/superpeer/pkg/seeder"
)

var (
	//go:embed web
	webFiles embed.FS
	//go:embed media
	mediaFiles embed.FS
	//go:embed thirdparty
	thirdpartyFiles embed.FS
)

// Demo stream settings.
const (
	// liveWindow is the number of 2 s segments in the live playlists.
	liveWindow = 10
	// Swarm ids the page and superpeer share, so that they meet whatever
	// host name the browser uses for the demo (the default swarm id is the
	// manifest URL, which differs between localhost and 127.0.0.1).
	vodSwarmID  = "superpeer-demo-vod"
	liveSwarmID = "superpeer-demo-live"
	dashSwarmID = "superpeer-demo-dash"
	// dashManifest is the DASH VOD's path on the demo's listener.
	dashManifest = "/media/dash/manifest.mpd"
)

// Options configure a demo.
type Options struct {
	// Addr is the listen address, "127.0.0.1:8080" by default.
	Addr string
	// Logger receives the demo's and superpeer's logs.
	Logger zerolog.Logger
	// Registry receives every metric and is served on /metrics.
	Registry *prometheus.Registry
	// Version is shown on the status page.
	Version string
	// Listening, if set, is called with the page URL once the demo serves.
	Listening func(pageURL string)
	// GCHeadroom is seeder.Options.GCHeadroom: above 0, superpeer paces the
	// collector around its segment cache as it does in production.
	GCHeadroom float64
}

// Run serves the demo until ctx ends.
func Run(ctx context.Context, opts Options) error {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:8080"
	}
	if opts.Registry == nil {
		return errors.New("demo: Options.Registry is required")
	}
	log := opts.Logger.With().Str("component", "demo").Logger()
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("demo: listen %s: %w", opts.Addr, err)
	}
	defer ln.Close()
	// superpeer reaches the origin and the tracker over loopback.
	port := ln.Addr().(*net.TCPAddr).Port
	local := "127.0.0.1:" + strconv.Itoa(port)

	vod, err := fs.Sub(mediaFiles, "media")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	dash, err := fs.Sub(mediaFiles, "media/dash")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	live, err := NewLive(vod, liveWindow, nil)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	cfg := seeder.DefaultConfig()
	cfg.Trackers = nil                // only the embedded tracker, served below
	cfg.WebRTC.ICEServers = nil       // offline: host candidates only
	cfg.WebRTC.IncludeLoopback = true // browser and superpeer on one machine
	cfg.HTTP.Listen = ""              // the demo's listener serves the admin endpoints
	cfg.Cache.MaxBytes = 64 << 20
	cfg.Streams = streams(local)
	s, err := seeder.New(cfg, seeder.Options{Logger: opts.Logger, Registry: opts.Registry, Version: opts.Version,
		TrackerServerURL: "ws://" + local + "/tracker", GCHeadroom: opts.GCHeadroom})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	mux := http.NewServeMux()
	web, _ := fs.Sub(webFiles, "web")
	third, _ := fs.Sub(thirdpartyFiles, "thirdparty")
	for _, f := range []string{"hls.mjs", "shaka-player.compiled.js", "p2pml-2.2/p2p-media-loader-shaka.js"} {
		if _, err := fs.Stat(third, f); err != nil {
			log.Error().Str("file", f).Msg("the demo page's JavaScript is missing from this build: run scripts/demo, " +
				"or go generate ./pkg/demo before go build; the page will not play")
			break
		}
	}
	mux.Handle("GET /{$}", http.FileServerFS(web))
	mux.Handle("GET /demo.js", http.FileServerFS(web))
	mux.Handle("GET /demo.css", http.FileServerFS(web))
	mux.Handle("GET /thirdparty/", http.StripPrefix("/thirdparty", http.FileServerFS(third)))
	mux.HandleFunc("GET /demo/config.json", servePageConfig)
	mux.Handle("GET /media/vod/", http.StripPrefix("/media/vod", corsFiles(http.FileServerFS(vod))))
	mux.Handle("GET /media/live/", http.StripPrefix("/media/live", live))
	mux.Handle("GET /media/dash/", http.StripPrefix("/media/dash", corsFiles(dashTypes(http.FileServerFS(dash)))))
	mux.Handle("/tracker", s.TrackerServer())
	mux.Handle("/", s.Handler()) // /metrics, /status, /status.json, /healthz, /readyz

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("demo: serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		// Connections superpeer dialled for requests cancelled by the
		// shutdown may reach the server without a request; Shutdown would
		// wait for them, so it gets a short grace and Close ends the rest.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		return nil
	})
	page := "http://" + displayAddr(ln.Addr().(*net.TCPAddr)) + "/"
	log.Info().Str("url", page).Msg("demo running: open the page in a browser (more tabs make more peers)")
	if opts.Listening != nil {
		opts.Listening(page)
	}
	return g.Wait()
}

// streams are the demo streams superpeer seeds, fetched from the demo's own
// origin at local (host:port). The DASH stream needs no format setting:
// superpeer detects it from the manifest.
func streams(local string) []seeder.StreamConfig {
	return []seeder.StreamConfig{
		{ID: "demo-live", URL: "http://" + local + "/media/live/master.m3u8", SwarmID: liveSwarmID},
		{ID: "demo-vod", URL: "http://" + local + "/media/vod/master.m3u8", SwarmID: vodSwarmID},
		{ID: "demo-dash", URL: "http://" + local + dashManifest, SwarmID: dashSwarmID},
	}
}

// displayAddr is the address to print: loopback stands in for "every address".
func displayAddr(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// pageConfig is what the page needs to play: the tracker URL is derived from
// the host the browser used, so the demo works from other machines too.
type pageConfig struct {
	Tracker    string                `json:"tracker"`
	ICEServers []any                 `json:"iceServers"`
	Streams    map[string]pageStream `json:"streams"`
}

type pageStream struct {
	URL string `json:"url"`
	// Player is "hlsjs" (hls.js + P2P Media Loader 2.3.1) or "shaka"
	// (Shaka Player + P2P Media Loader 2.2.2).
	Player string         `json:"player"`
	HLS    map[string]any `json:"hls,omitempty"`
	Core   map[string]any `json:"core"`
}

func servePageConfig(w http.ResponseWriter, r *http.Request) {
	cfg := pageConfig{
		Tracker:    "ws://" + r.Host + "/tracker",
		ICEServers: []any{},
		Streams: map[string]pageStream{
			"vod": {URL: "/media/vod/master.m3u8", Player: "hlsjs", Core: map[string]any{"swarmId": vodSwarmID}},
			// Live: play 12 s behind the edge and take only the last 6 s
			// before the playhead from HTTP first, so the segments between
			// come over P2P (docs/operations.md, "Browser settings for live").
			"live": {
				URL:    "/media/live/master.m3u8",
				Player: "hlsjs",
				HLS:    map[string]any{"liveSyncDurationCount": 6},
				Core:   map[string]any{"swarmId": liveSwarmID, "highDemandTimeWindow": 6},
			},
			// DASH VOD: P2P Media Loader's default settings, as a site
			// would start with; the page adds the segment-index snippet of
			// docs/dash.md.
			"dash": {URL: dashManifest, Player: "shaka", Core: map[string]any{"swarmId": dashSwarmID}},
		},
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(cfg)
}

// corsFiles lets players on other origins load the demo media.
func corsFiles(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h.ServeHTTP(w, r)
	})
}

// dashTypes sets the DASH content types, which Go's mime table lacks (a
// FileServer would sniff an MPD as text/xml and a segment as
// application/octet-stream).
func dashTypes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch path.Ext(r.URL.Path) {
		case ".mpd":
			w.Header().Set("Content-Type", "application/dash+xml")
		case ".m4s":
			w.Header().Set("Content-Type", "video/iso.segment")
		}
		h.ServeHTTP(w, r)
	})
}
