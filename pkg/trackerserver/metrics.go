package trackerserver

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds the collectors of one Server (names
// superpeer_tracker_server_*). Build it with NewMetrics and give it to
// exactly one Server: its gauges describe that server's state.
type Metrics struct {
	connections      prometheus.Gauge
	httpConns        prometheus.Gauge
	connectionsLimit prometheus.Gauge
	// per source address and network
	connectionsPerIPLimit     prometheus.Gauge
	connectionsPerPrefixLimit prometheus.Gauge
	peers                     prometheus.Gauge
	peersPerSwarmLimit        prometheus.Gauge
	swarms                    prometheus.Gauge
	swarmsLimit               prometheus.Gauge
	messages                  *prometheus.CounterVec
	relayed                   *prometheus.CounterVec
	dropped                   *prometheus.CounterVec
	rejected                  *prometheus.CounterVec
	closed                    *prometheus.CounterVec
	expired                   prometheus.Counter
	conflicts                 *prometheus.CounterVec
}

// NewMetrics registers the tracker server collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		connections: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_connections",
			Help: "Open WebSocket connections to the embedded tracker.",
		}),
		httpConns: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_http_connections",
			Help: "TCP connections on the tracker's listener not (yet) upgraded to WebSockets: requests in progress and idle keep-alive connections.",
		}),
		connectionsLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_connections_limit",
			Help: "Configured maximum of open connections (MaxPeers); upgrades beyond it get 503.",
		}),
		connectionsPerIPLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_connections_per_ip_limit",
			Help: "Configured maximum of open connections from one client address (MaxPeersPerIP); upgrades beyond it get 429.",
		}),
		connectionsPerPrefixLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_connections_per_prefix_limit",
			Help: "Configured maximum of open connections from one /24 (IPv4) or /64 (IPv6) (MaxPeersPerPrefix); upgrades beyond it get 429.",
		}),
		peers: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_peers",
			Help: "Swarm memberships (a peer id in a swarm) held by the embedded tracker.",
		}),
		peersPerSwarmLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_peers_per_swarm_limit",
			Help: "Configured maximum of peers in one swarm.",
		}),
		swarms: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_swarms",
			Help: "Swarms (info hashes with at least one peer) held by the embedded tracker.",
		}),
		swarmsLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_tracker_server_swarms_limit",
			Help: "Configured maximum of swarms.",
		}),
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_server_messages_total",
			Help: "Tracker messages by direction (in, out) and kind (announce, offer, answer, response, failure, scrape, other, malformed).",
		}, []string{"direction", "kind"}),
		relayed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_server_relayed_total",
			Help: "Offers and answers queued for another peer, by kind (offer, answer).",
		}, []string{"kind"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_server_dropped_total",
			Help: "Incoming messages or outgoing frames dropped, by reason (" + serverDropReasons + ").",
		}, []string{"reason"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_server_rejected_connections_total",
			Help: "WebSocket upgrades refused, by reason (limit, ip_limit, prefix_limit, origin, shutdown, handshake), and TCP connections closed at accept because too many were not yet upgraded (pending_ip_limit, pending_limit).",
		}, []string{"reason"}),
		closed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_server_closed_connections_total",
			Help: "Connections ended, by reason (client, idle, no_message, oversized, abuse, write_error, shutdown).",
		}, []string{"reason"}),
		expired: f.NewCounter(prometheus.CounterOpts{
			Name: "superpeer_tracker_server_expired_peers_total",
			Help: "Swarm memberships removed because the peer missed two announces.",
		}),
		conflicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_tracker_server_peer_id_conflicts_total",
			Help: "Announces and answers refused because another connection holds their peer id, by reason (trusted: superpeer's own connection holds it, live: another client's).",
		}, []string{"reason"}),
	}
}

// Label values of the server counters. Direction, kind and the first three
// drop reasons are spelled as in the client's superpeer_tracker_* metrics.
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

	dropQueueFull     = "queue_full"   // head-drop from a full send queue (Config.SendQueue)
	dropOversized     = "oversized"    // frame over Config.MaxMessageBytes
	dropInvalid       = "invalid"      // a required field missing or of the wrong length
	dropMalformed     = "malformed"    // not JSON, or a field of the wrong type
	dropUnknownPeer   = "unknown_peer" // answer to a peer id the tracker does not know (any more)
	dropRateLimited   = "rate_limited" // over Config.MaxMessageRate
	dropSwarmFull     = "swarm_full"   // Config.MaxPeersPerSwarm reached
	dropSwarmLimit    = "swarm_limit"  // Config.MaxSwarms reached
	dropConnLimit     = "conn_limit"   // Config.MaxSwarmsPerConn reached
	dropUnsupported   = "unsupported"  // unknown action or event, scrape without info_hash
	serverDropReasons = "queue_full, oversized, malformed, invalid, unknown_peer, rate_limited, swarm_full, swarm_limit, conn_limit, unsupported"

	rejectLimit       = "limit"
	rejectIPLimit     = "ip_limit"     // Config.MaxPeersPerIP reached
	rejectPrefixLimit = "prefix_limit" // Config.MaxPeersPerPrefix reached
	rejectOrigin      = "origin"
	// rejectPendingIPLimit and rejectPendingLimit: Config.MaxPendingPerIP and
	// Config.MaxPending reached by connections not yet upgraded (Listener).
	rejectPendingIPLimit = "pending_ip_limit"
	rejectPendingLimit   = "pending_limit"
	rejectShutdown       = "shutdown"
	rejectHandshake      = "handshake"

	closeClient     = "client"
	closeIdle       = "idle"
	closeNoMessage  = "no_message" // nothing within Config.FirstMessageTimeout of the upgrade
	closeOversized  = "oversized"
	closeAbuse      = "abuse"
	closeWriteError = "write_error"
	closeShutdown   = "shutdown"

	conflictTrusted = "trusted" // the peer id is held by a trusted connection
	conflictLive    = "live"    // the peer id is held by another open connection
)

// kind indexes of serverCounters.in/out; names in kindNames.
const (
	skAnnounce uint8 = iota
	skOffer
	skAnswer
	skResponse
	skFailure
	skScrape
	skOther
	skMalformed
	numServerKinds
)

var kindNames = [numServerKinds]string{kindAnnounce, kindOffer, kindAnswer, kindResponse, kindFailure, kindScrape, kindOther, kindMalformed}

// serverCounters are the hot-path children of Metrics, resolved once so
// that a message costs an atomic add, not a label lookup.
type serverCounters struct {
	in, out          [numServerKinds]prometheus.Counter
	relayedOffer     prometheus.Counter
	relayedAnswer    prometheus.Counter
	drop             map[string]prometheus.Counter
	expired          prometheus.Counter
	connections      prometheus.Gauge
	httpConns        prometheus.Gauge
	peers, swarms    prometheus.Gauge
	rejected, closed *prometheus.CounterVec
	conflicts        map[string]prometheus.Counter
}

func (m *Metrics) counters() *serverCounters {
	c := &serverCounters{
		relayedOffer:  m.relayed.WithLabelValues(kindOffer),
		relayedAnswer: m.relayed.WithLabelValues(kindAnswer),
		drop:          map[string]prometheus.Counter{},
		expired:       m.expired,
		connections:   m.connections,
		httpConns:     m.httpConns,
		peers:         m.peers,
		swarms:        m.swarms,
		rejected:      m.rejected,
		closed:        m.closed,
		conflicts: map[string]prometheus.Counter{
			conflictTrusted: m.conflicts.WithLabelValues(conflictTrusted),
			conflictLive:    m.conflicts.WithLabelValues(conflictLive),
		},
	}
	for k := range numServerKinds {
		c.in[k] = m.messages.WithLabelValues(dirIn, kindNames[k])
		c.out[k] = m.messages.WithLabelValues(dirOut, kindNames[k])
	}
	for _, r := range []string{dropQueueFull, dropOversized, dropMalformed, dropInvalid, dropUnknownPeer, dropRateLimited,
		dropSwarmFull, dropSwarmLimit, dropConnLimit, dropUnsupported} {
		c.drop[r] = m.dropped.WithLabelValues(r)
	}
	return c
}
