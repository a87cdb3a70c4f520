package seeder

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// limits are the process-wide admission limits every swarm shares: browser
// connections in all and per swarm, and offers awaiting an answer.
type limits struct {
	maxPeers    int64
	maxPending  int64
	maxPerSwarm int

	peers   atomic.Int64 // peers admitted, across swarms
	pending atomic.Int64 // offers awaiting answers, across swarms
	gauge   prometheus.Gauge
}

func newLimits(cfg PeersConfig, m *metrics) *limits {
	m.peersLimit.Set(float64(cfg.Max))
	m.pendingLimit.Set(float64(cfg.MaxPendingOffers))
	return &limits{
		maxPeers:    int64(cfg.Max),
		maxPending:  int64(cfg.MaxPendingOffers),
		maxPerSwarm: cfg.MaxPerSwarm,
		gauge:       m.pendingOffers,
	}
}

// takePeer reserves one of peers.max.
func (l *limits) takePeer() bool {
	if l.peers.Add(1) > l.maxPeers {
		l.peers.Add(-1)
		return false
	}
	return true
}

func (l *limits) releasePeer() { l.peers.Add(-1) }

// takePending reserves up to n of peers.max_pending_offers and returns how
// many it got.
func (l *limits) takePending(n int) int {
	for n > 0 {
		cur := l.pending.Load()
		if got := min(int64(n), l.maxPending-cur); got <= 0 {
			return 0
		} else if l.pending.CompareAndSwap(cur, cur+got) {
			l.gauge.Set(float64(cur + got))
			return int(got)
		}
	}
	return 0
}

func (l *limits) releasePending() {
	l.gauge.Set(float64(l.pending.Add(-1)))
}
