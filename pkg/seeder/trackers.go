package seeder

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/superpeer/superpeer/pkg/tracker"
)

// trackerSet is the tracker clients every swarm joins. The seeder fills it
// before any stream runs (the embedded tracker's client is added in Run),
// while status and readiness probes may already read it.
type trackerSet struct {
	mu    sync.RWMutex
	list  []*tracker.Client
	byURL map[string]*tracker.Client
}

var _ signaling = (*trackerSet)(nil)

func newTrackerSet() *trackerSet {
	return &trackerSet{byURL: map[string]*tracker.Client{}}
}

func (ts *trackerSet) add(c *tracker.Client) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.list = append(ts.list, c)
	ts.byURL[c.URL()] = c
}

// clients returns the tracker clients.
func (ts *trackerSet) clients() []*tracker.Client {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return slices.Clone(ts.list)
}

// join announces infoHash on every tracker; the error names each tracker
// that refused.
func (ts *trackerSet) join(infoHash, peerID string, h tracker.Handler) (func(), error) {
	var errs []error
	var leaves []func()
	for _, c := range ts.clients() {
		leave, err := c.Join(infoHash, peerID, h)
		if err != nil {
			errs = append(errs, fmt.Errorf("tracker %s: %w", c.URL(), err))
			continue
		}
		leaves = append(leaves, leave)
	}
	return func() {
		for _, l := range leaves {
			l()
		}
	}, errors.Join(errs...)
}

// announceSoon brings infoHash's next announce forward on every tracker.
func (ts *trackerSet) announceSoon(infoHash string) {
	for _, c := range ts.clients() {
		c.AnnounceSoon(infoHash)
	}
}

// answer sends an answer through the tracker the offer came from.
func (ts *trackerSet) answer(o tracker.Offer, sdp string) error {
	ts.mu.RLock()
	c := ts.byURL[o.Tracker]
	ts.mu.RUnlock()
	if c == nil {
		return fmt.Errorf("offer from unknown tracker %q", o.Tracker)
	}
	return c.Answer(o, sdp)
}
