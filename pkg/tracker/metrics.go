package tracker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds the tracker collectors. Build one with NewMetrics and share it
// by every Client; each Client labels its series with tracker=<URL>.
type Metrics struct {
	connected *prometheus.GaugeVec
	connects  *prometheus.CounterVec
	messages  *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	swarms    *prometheus.GaugeVec
}

// NewMetrics registers the tracker collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		connected: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "superpeer_tracker_connected",
			Help: "Whether the WebSocket to the tracker is open (1) or not (0).",
		}, []string{"tracker"}),
		connects: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_connects_total",
			Help: "Connection attempts to the tracker by result (ok, error).",
		}, []string{"tracker", "result"}),
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_messages_total",
			Help: "Tracker messages by direction (in, out) and kind (announce, offer, answer, response, failure, scrape, other, malformed).",
		}, []string{"tracker", "direction", "kind"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_dropped_total",
			Help: "Tracker messages or offers dropped by reason (queue_full, late_answer, oversized, unknown_swarm, own_peer, invalid).",
		}, []string{"tracker", "reason"}),
		swarms: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "superpeer_tracker_swarms",
			Help: "Swarms (info hashes) joined on the tracker.",
		}, []string{"tracker"}),
	}
}

// Label values of superpeer_tracker_messages_total and _dropped_total.
const (
	dirIn  = "in"
	dirOut = "out"

	kindAnnounce  = "announce"
	kindOffer     = "offer"
	kindAnswer    = "answer"
	kindResponse  = "response"
	kindFailure   = "failure"
	kindScrape    = "scrape"
	kindOther     = "other"
	kindMalformed = "malformed"

	dropQueueFull    = "queue_full"
	dropLateAnswer   = "late_answer"
	dropOversized    = "oversized"
	dropUnknownSwarm = "unknown_swarm"
	dropOwnPeer      = "own_peer"
	dropInvalid      = "invalid"
)

// clientMetrics is Metrics curried with one tracker label.
type clientMetrics struct {
	connected prometheus.Gauge
	connects  *prometheus.CounterVec
	messages  *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	swarms    prometheus.Gauge
}

func (m *Metrics) forTracker(url string) clientMetrics {
	l := prometheus.Labels{"tracker": url}
	return clientMetrics{
		connected: m.connected.With(l),
		connects:  m.connects.MustCurryWith(l),
		messages:  m.messages.MustCurryWith(l),
		dropped:   m.dropped.MustCurryWith(l),
		swarms:    m.swarms.With(l),
	}
}

func (m clientMetrics) message(dir, kind string) { m.messages.WithLabelValues(dir, kind).Inc() }
func (m clientMetrics) drop(reason string)       { m.dropped.WithLabelValues(reason).Inc() }
