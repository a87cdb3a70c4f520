package seeder

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/superpeer/superpeer/pkg/udpbatch"
	"github.com/superpeer/superpeer/pkg/udpsock"
)

// metrics are the seeder's collectors. Labels are bounded: stream is a
// configured name, variant a rendition of that stream's manifest
// ("main-0", "secondary-1"), generation "0.6", "2.2" or "2.3", and the rest small enums.
type metrics struct {
	sentBytes      *prometheus.CounterVec
	peers          *prometheus.GaugeVec
	swarmSize      *prometheus.GaugeVec
	earlyAnnounces *prometheus.CounterVec
	connections    *prometheus.CounterVec
	requests       *prometheus.CounterVec
	peerErrors     *prometheus.CounterVec
	disconnects    *prometheus.CounterVec
	connectedFor   *prometheus.HistogramVec
	setup          *prometheus.HistogramVec
	segmentsCached *prometheus.GaugeVec
	segmentLag     *prometheus.HistogramVec
	announceDelay  *prometheus.HistogramVec
	peerAnnounce   *prometheus.HistogramVec
	cacheBytes     prometheus.Gauge
	cacheLimit     prometheus.Gauge
	gcPercent      prometheus.Gauge
	cacheRejected  *prometheus.CounterVec
	peersLimit     prometheus.Gauge
	pendingOffers  prometheus.Gauge
	pendingLimit   prometheus.Gauge
	uploadLimit    prometheus.Gauge
	uploadWait     prometheus.Counter
	iceTCPRejected prometheus.Counter
	streamReady    *prometheus.GaugeVec
	panics         prometheus.Counter
	reloads        *prometheus.CounterVec
	assigned       *prometheus.GaugeVec
	reloadOK       prometheus.Gauge
	reloadTime     prometheus.Gauge
	udp            *udpCollector
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	udp := &udpCollector{}
	if reg != nil {
		reg.MustRegister(udp)
	}
	return &metrics{
		udp: udp,
		sentBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_p2p_sent_bytes_total",
			Help: "Segment bytes delivered to browser peers over WebRTC.",
		}, []string{"stream"}),
		peers: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "superpeer_peers",
			Help: "Browser peers connected now (open data channel).",
		}, []string{"stream"}),
		swarmSize: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "superpeer_swarm_size",
			Help: "Peers in a swarm as the trackers last reported it (complete + incomplete, largest over trackers).",
		}, []string{"stream", "variant", "generation"}),
		earlyAnnounces: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_early_announces_total",
			Help: "Announces a swarm brought forward (tracker_client.min_interval after the last) because browsers took its offers and the trackers count browsers it has not reached.",
		}, []string{"stream", "variant", "generation"}),
		connections: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_peer_connections_total",
			Help: "Peer connection attempts by direction (answer: the browser offered; offer: superpeer offered) and result.",
		}, []string{"stream", "direction", "result"}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_peer_requests_total",
			Help: "Segment requests from browsers by outcome: served, absent, cancelled, superseded, failed.",
		}, []string{"stream", "outcome"}),
		peerErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_peer_errors_total",
			Help: "Misbehaviour and failures on peer connections, by reason.",
		}, []string{"stream", "reason"}),
		disconnects: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_peer_disconnects_total",
			Help: "Open peer connections that ended, by reason: closed (by the browser), ice_failed (nothing from the browser for 20 s: most closed tabs, or a broken path), misbehaving, shutdown, error.",
		}, []string{"stream", "reason"}),
		connectedFor: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "superpeer_peer_connected_seconds",
			Help:    "How long open peer connections lasted, observed when they end, by the reason they ended.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 900, 3600},
		}, []string{"stream", "reason"}),
		setup: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "superpeer_peer_setup_seconds",
			Help:    "Time from superpeer taking a browser's offer (direction answer), or the browser's answer to superpeer's offer arriving (offer), to the data channel opening, for connections that opened.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"stream", "direction"}),
		segmentsCached: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "superpeer_segments_cached",
			Help: "Segments held in memory and announced to peers.",
		}, []string{"stream"}),
		segmentLag: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "superpeer_segment_ready_seconds",
			Help:    "Time from a segment appearing in its playlist to superpeer holding its bytes.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 16, 32},
		}, []string{"stream"}),
		announceDelay: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "superpeer_segment_announce_delay_seconds",
			Help:    "Time from superpeer holding a segment's bytes to handing the news to every swarm's peers.",
			Buckets: []float64{.005, .01, .025, .05, .075, .1, .25, .5, 1},
		}, []string{"stream"}),
		peerAnnounce: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "superpeer_peer_announce_delay_seconds",
			Help:    "Time from superpeer holding a new segment's bytes to the announcement that first lists it as held being written to a browser's data channel, once per browser and announcement (from the earliest of the segments it brings).",
			Buckets: []float64{.005, .01, .025, .05, .075, .1, .25, .5, 1, 2.5, 5},
		}, []string{"stream"}),
		cacheBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_cache_bytes",
			Help: "Segment bytes held in memory.",
		}),
		cacheLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_cache_limit_bytes",
			Help: "Configured limit of segment bytes held in memory (cache.max_bytes).",
		}),
		gcPercent: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_gc_percent",
			Help: "GC percent the seeder set so that garbage grows with the heap outside the segment cache only; 0 when it does not pace the collector (GOGC set).",
		}),
		cacheRejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_cache_rejected_total",
			Help: "Segments not kept because the cache was full.",
		}, []string{"stream"}),
		peersLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_peers_limit",
			Help: "Configured limit of browser peers in all (peers.max).",
		}),
		pendingOffers: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_offers_pending",
			Help: "Offers sent through trackers and not yet answered or expired.",
		}),
		pendingLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_offers_pending_limit",
			Help: "Configured limit of pending offers (peers.max_pending_offers).",
		}),
		uploadLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_upload_limit_bytes_per_second",
			Help: "Configured upload rate limit (peers.upload_rate); 0 is unlimited.",
		}),
		iceTCPRejected: f.NewCounter(prometheus.CounterOpts{
			Name: "superpeer_ice_tcp_rejected_connections_total",
			Help: "TCP connections to webrtc.tcp_port closed at accept because their address held webrtc.tcp_max_per_ip.",
		}),
		uploadWait: f.NewCounter(prometheus.CounterOpts{
			Name: "superpeer_upload_throttled_seconds_total",
			Help: "Time uploads waited for the upload rate limit.",
		}),
		streamReady: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "superpeer_stream_ready",
			Help: "1 once a stream has its playlists and has joined its swarms.",
		}, []string{"stream"}),
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "superpeer_config_reloads_total",
			Help: "Configuration reloads (SIGHUP or a changed file) by result: success, failure (the running configuration stays).",
		}, []string{"result"}),
		assigned: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "superpeer_stream_assigned",
			Help: "1 if this replica seeds the configured stream, 0 if other replicas do (replicas: rendezvous hashing).",
		}, []string{"stream"}),
		reloadOK: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_config_last_reload_successful",
			Help: "1 if the last configuration reload applied (or none was tried), 0 if it failed.",
		}),
		reloadTime: f.NewGauge(prometheus.GaugeOpts{
			Name: "superpeer_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully (start or reload), as a Unix time.",
		}),
		panics: f.NewCounter(prometheus.CounterOpts{
			Name: "superpeer_peer_panics_total",
			Help: "Peer goroutines ended by a panic (a bug: report it); the process and other peers carry on.",
		}),
	}
}

// streamMetrics are the collectors of one stream, with its label applied,
// handed to the stream, its swarms and its peers.
type streamMetrics struct {
	sent           prometheus.Counter
	peers          prometheus.Gauge
	swarmSize      *prometheus.GaugeVec   // variant, generation
	earlyAnnounces *prometheus.CounterVec // variant, generation
	connections    *prometheus.CounterVec // direction, result
	requests       *prometheus.CounterVec // outcome
	peerErrors     *prometheus.CounterVec // reason
	disconnects    *prometheus.CounterVec // reason
	connectedFor   prometheus.ObserverVec // reason
	setup          prometheus.ObserverVec // direction
	segmentsCached prometheus.Gauge
	segmentLag     prometheus.Observer
	announceDelay  prometheus.Observer
	peerAnnounce   prometheus.Observer
	cacheRejected  prometheus.Counter
	ready          prometheus.Gauge
}

// forStream returns the collectors of the stream named id.
func (m *metrics) forStream(id string) *streamMetrics {
	l := prometheus.Labels{"stream": id}
	return &streamMetrics{
		sent:           m.sentBytes.With(l),
		peers:          m.peers.With(l),
		swarmSize:      m.swarmSize.MustCurryWith(l),
		earlyAnnounces: m.earlyAnnounces.MustCurryWith(l),
		connections:    m.connections.MustCurryWith(l),
		requests:       m.requests.MustCurryWith(l),
		peerErrors:     m.peerErrors.MustCurryWith(l),
		disconnects:    m.disconnects.MustCurryWith(l),
		connectedFor:   m.connectedFor.MustCurryWith(l),
		setup:          m.setup.MustCurryWith(l),
		segmentsCached: m.segmentsCached.With(l),
		segmentLag:     m.segmentLag.With(l),
		announceDelay:  m.announceDelay.With(l),
		peerAnnounce:   m.peerAnnounce.With(l),
		cacheRejected:  m.cacheRejected.With(l),
		ready:          m.streamReady.With(l),
	}
}

// udpCollector exports the UDP batch sender's totals, once there is one
// (webrtc.send_batching), and the udp_port socket's buffer sizes, once it
// is open.
type udpCollector struct {
	mu      sync.Mutex
	sender  *udpbatch.Sender
	limit   int64
	buffers *udpsock.Info // smallest over the udp_port sockets
}

var (
	udpDatagramsDesc = prometheus.NewDesc("superpeer_udp_sent_datagrams_total",
		"UDP datagrams handed to the kernel by the batch sender (webrtc.send_batching).", nil, nil)
	udpCallsDesc = prometheus.NewDesc("superpeer_udp_send_calls_total",
		"Send system calls that carried them: datagrams ÷ calls is the mean batch.", nil, nil)
	udpErrorsDesc = prometheus.NewDesc("superpeer_udp_send_errors_total",
		"Datagrams the kernel refused to send (dropped, as UDP may; SCTP resends them).", nil, nil)
	udpWaitsDesc = prometheus.NewDesc("superpeer_udp_send_queue_waits_total",
		"Writes that waited because webrtc.send_queue bytes were queued for their browser.", nil, nil)
	udpQueuedDesc = prometheus.NewDesc("superpeer_udp_send_queued_bytes",
		"Bytes queued for the batch sender now, over every socket.", nil, nil)
	udpLimitDesc = prometheus.NewDesc("superpeer_udp_send_queue_limit_bytes",
		"webrtc.send_queue: the bytes that may be queued for one browser.", nil, nil)
	udpGSODesc = prometheus.NewDesc("superpeer_udp_gso",
		"1 while batches leave with UDP segmentation offload (one sendmsg per run of datagrams), 0 when the kernel or device refuses it.", nil, nil)
	udpDropsDesc = prometheus.NewDesc("superpeer_udp_receive_drops_total",
		"Datagrams the kernel dropped on arrival at superpeer's WebRTC sockets because a receive buffer was full (with webrtc.send_batching).", nil, nil)
	udpBufferDesc = prometheus.NewDesc("superpeer_udp_port_buffer_bytes",
		"Kernel buffer in force on the webrtc.udp_port socket, by direction; below webrtc.udp_port_buffer when the host caps it.", []string{"direction"}, nil)
)

func (c *udpCollector) set(s *udpbatch.Sender, limit int64) {
	c.mu.Lock()
	c.sender, c.limit = s, limit
	c.mu.Unlock()
}

// setBuffers records a udp_port socket's buffers; with several sockets (one
// per address) the smallest count.
func (c *udpCollector) setBuffers(info udpsock.Info) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buffers == nil {
		c.buffers = &info
		return
	}
	c.buffers.ReceiveBuffer = min(c.buffers.ReceiveBuffer, info.ReceiveBuffer)
	c.buffers.SendBuffer = min(c.buffers.SendBuffer, info.SendBuffer)
}

// Describe implements prometheus.Collector.
func (c *udpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{udpDatagramsDesc, udpCallsDesc, udpErrorsDesc, udpWaitsDesc, udpQueuedDesc,
		udpLimitDesc, udpGSODesc, udpDropsDesc, udpBufferDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *udpCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s, limit, buffers := c.sender, c.limit, c.buffers
	c.mu.Unlock()
	if buffers != nil {
		ch <- prometheus.MustNewConstMetric(udpBufferDesc, prometheus.GaugeValue, float64(buffers.ReceiveBuffer), "receive")
		ch <- prometheus.MustNewConstMetric(udpBufferDesc, prometheus.GaugeValue, float64(buffers.SendBuffer), "send")
	}
	if s == nil {
		return
	}
	st := s.Stats()
	gso := 0.0
	if st.GSO {
		gso = 1
	}
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v float64
	}{
		{udpDatagramsDesc, prometheus.CounterValue, float64(st.Datagrams)},
		{udpCallsDesc, prometheus.CounterValue, float64(st.Syscalls)},
		{udpErrorsDesc, prometheus.CounterValue, float64(st.Errors)},
		{udpWaitsDesc, prometheus.CounterValue, float64(st.QueueWaits)},
		{udpQueuedDesc, prometheus.GaugeValue, float64(st.QueuedBytes)},
		{udpLimitDesc, prometheus.GaugeValue, float64(limit)},
		{udpGSODesc, prometheus.GaugeValue, gso},
		{udpDropsDesc, prometheus.CounterValue, float64(s.ReceiveDrops())},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, m.t, m.v)
	}
}
