package tracker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/superpeer/superpeer/pkg/wire"
)

// announcer runs the announces of one swarm on one connection.
type announcer struct {
	cancel   context.CancelFunc
	interval chan time.Duration // latest interval from the tracker, capacity 1
	soon     chan struct{}      // AnnounceSoon's request, capacity 1
	leaving  atomic.Bool        // send "stopped" on exit
}

// startAnnouncer starts the announce loop of s on cn. Call with c.mu held.
func (c *Client) startAnnouncer(cn *conn, s *swarm) {
	ctx, cancel := context.WithCancel(cn.ctx)
	a := &announcer{cancel: cancel, interval: make(chan time.Duration, 1), soon: make(chan struct{}, 1)}
	cn.announcers[s] = a
	cn.wg.Add(1)
	go func() {
		defer cn.wg.Done()
		defer cancel()
		c.announceLoop(ctx, cn, s, a)
	}()
}

// announceLoop announces s on cn: first with event "started", then each time
// the interval elapses; the interval restarts whenever a response sets one,
// as the browser's setInterval does. AnnounceSoon brings the next announce
// forward to the least gap allowed after the last. On leave it sends
// "stopped".
func (c *Client) announceLoop(ctx context.Context, cn *conn, s *swarm, a *announcer) {
	event := "started"
	for {
		offers := c.offers(ctx, s)
		if ctx.Err() != nil {
			break
		}
		if b, ok := c.announce(s, event, offers); ok {
			c.enqueue(cn, outgoing{b: b, kind: kindAnnounce})
		}
		event = ""

		c.mu.Lock()
		d := s.interval
		c.mu.Unlock()
		if d == 0 {
			d = c.cfg.DefaultInterval
		}
		if !waitInterval(ctx, a, d, func() time.Duration { return c.leastGap(s) }) {
			break
		}
	}
	if a.leaving.Load() && cn.ctx.Err() == nil {
		c.enqueue(cn, outgoing{b: c.stopped(s), kind: kindAnnounce})
	}
}

// leastGap is the least time between two announces of s: MinInterval, or
// the tracker's "min interval" if longer.
func (c *Client) leastGap(s *swarm) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.cfg.MinInterval, s.minInterval)
}

// waitInterval waits d, restarting on every new interval, or only gap() from
// its start once AnnounceSoon asks; false if ctx ended.
func waitInterval(ctx context.Context, a *announcer, d time.Duration, gap func() time.Duration) bool {
	start := time.Now()
	due := start.Add(d)
	var early time.Time // zero until AnnounceSoon asks
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case d := <-a.interval:
			due = time.Now().Add(d)
		case <-a.soon:
			early = start.Add(gap())
		case <-t.C:
			return true
		}
		next := due
		if !early.IsZero() && early.Before(next) {
			next = early
		}
		t.Reset(time.Until(next))
	}
}

// offers asks the Handler for offers, within OfferTimeout, and keeps the
// valid ones. With a negative OffersPerAnnounce it asks for none.
func (c *Client) offers(ctx context.Context, s *swarm) []wire.TrackerOffer {
	if c.cfg.OffersPerAnnounce < 0 {
		return nil
	}
	octx, cancel := context.WithTimeout(ctx, c.cfg.OfferTimeout)
	defer cancel()
	local := s.h.Offers(octx, c.cfg.OffersPerAnnounce)
	out := make([]wire.TrackerOffer, 0, len(local))
	for _, o := range local {
		if len(out) == c.cfg.OffersPerAnnounce {
			break
		}
		if o.ID == "" || o.SDP == "" {
			c.m.drop(dropInvalid)
			continue
		}
		out = append(out, wire.TrackerOffer{Offer: wire.TrackerSDP{Type: "offer", SDP: o.SDP}, OfferID: o.ID})
	}
	return out
}

// announce encodes an announce, leaving out trailing offers until it fits
// MaxOutgoingBytes.
func (c *Client) announce(s *swarm, event string, offers []wire.TrackerOffer) ([]byte, bool) {
	c.mu.Lock()
	trackerID := s.trackerID
	c.mu.Unlock()
	zero := int64(0)
	for {
		numwant := int64(len(offers))
		// numwant is the number of offers actually sent, and "offers" is
		// always present, [] when there are none: what the bittorrent-tracker
		// client (2.x, 0.6) and P2PML 5.x's own client send when they make no
		// offers. wt-tracker relays only with an integer numwant; the
		// bittorrent-tracker server takes the count from "offers".
		m := wire.TrackerMessage{Action: "announce", NumWant: &numwant, Uploaded: &zero, Downloaded: &zero,
			Event: event, InfoHash: s.infoHash, PeerID: s.peerID, TrackerID: trackerID, Offers: offers}
		if offers == nil {
			m.Offers = []wire.TrackerOffer{}
		}
		b := m.AppendJSON(nil)
		if len(b) <= c.cfg.MaxOutgoingBytes {
			return b, true
		}
		c.m.drop(dropOversized)
		if len(offers) == 0 {
			return nil, false
		}
		offers = offers[:len(offers)-1]
	}
}

func (c *Client) stopped(s *swarm) []byte {
	c.mu.Lock()
	trackerID := s.trackerID
	c.mu.Unlock()
	zero := int64(0)
	m := wire.TrackerMessage{Action: "announce", NumWant: &zero, Uploaded: &zero, Downloaded: &zero, Event: "stopped",
		InfoHash: s.infoHash, PeerID: s.peerID, TrackerID: trackerID}
	return m.AppendJSON(nil)
}
