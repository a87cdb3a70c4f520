package playlist

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"
)

// Request kinds, the "kind" label of the origin metrics.
const (
	kindMaster   = "master"
	kindPlaylist = "playlist"
	kindSegment  = "segment"
)

// Playlist error reasons, the "reason" label of superpeer_playlist_errors_total.
const (
	reasonFetch    = "fetch"
	reasonParse    = "parse"
	reasonTooLarge = "too_large"
	reasonRefused  = "refused"
)

// Metrics holds the origin and playlist collectors. One Metrics is shared by
// all Followers and Fetchers of a process; streams are told apart by the
// "stream" label.
type Metrics struct {
	fetchedBytes    *prometheus.CounterVec
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	reloads         *prometheus.CounterVec
	errors          *prometheus.CounterVec
	refused         *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg. A nil reg
// leaves them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		fetchedBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_origin_fetched_bytes_total",
			Help: "Segment body bytes received from the origin, including failed and discarded reads.",
		}, []string{"stream"}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_origin_requests_total",
			Help: "HTTP requests to the origin by kind (master, playlist, segment) and status class (2xx, 3xx, 4xx, 5xx, or error when no response arrived).",
		}, []string{"stream", "kind", "code"}),
		requestDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "superpeer_origin_request_duration_seconds",
			Help:    "Time from sending an origin request to having read its body.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20},
		}, []string{"stream", "kind"}),
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_playlist_reloads_total",
			Help: "Media playlist loads that were fetched and parsed successfully.",
		}, []string{"stream"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_playlist_errors_total",
			Help: "Failed manifest and media playlist loads by reason (fetch, parse, too_large, refused).",
		}, []string{"stream", "reason"}),
		refused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_origin_refused_total",
			Help: "Origin requests, redirect hops and connections refused by the stream's fetch policy, by kind (master, playlist, segment) and reason (scheme, other_origin, private_address, metadata_address).",
		}, []string{"stream", "kind", "reason"}),
	}
}

// observeRequest records one origin request; code is the HTTP status or 0
// when no response arrived.
func (m *Metrics) observeRequest(stream, kind string, code int, d time.Duration) {
	m.requests.WithLabelValues(stream, kind, statusClass(code)).Inc()
	m.requestDuration.WithLabelValues(stream, kind).Observe(d.Seconds())
}

// observeRefused counts a request the fetch policy refused and logs it on
// warn (a sampled logger) with the host and reason, never the whole URL,
// whose query may hold tokens.
func (m *Metrics) observeRefused(warn zerolog.Logger, stream, kind string, re *RefusedError) {
	m.refused.WithLabelValues(stream, kind, re.Reason).Inc()
	warn.Warn().Str("kind", kind).Str("host", re.Host).Str("reason", re.Reason).Msg("origin request refused by fetch policy")
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "error"
	}
	return strconv.Itoa(code/100) + "xx"
}

// DeleteStream removes every series of the stream named id, for a stream
// that is no longer followed.
func (m *Metrics) DeleteStream(id string) {
	l := prometheus.Labels{"stream": id}
	m.fetchedBytes.DeletePartialMatch(l)
	m.requests.DeletePartialMatch(l)
	m.requestDuration.DeletePartialMatch(l)
	m.reloads.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.refused.DeletePartialMatch(l)
}
