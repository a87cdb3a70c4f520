package trackerserver

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/superpeer/superpeer/pkg/tracker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 5 * time.Second

// ids returns a 20-byte info hash and peer id.
func ids(name string) (infoHash, peerID string) {
	return fmt.Sprintf("%-20s", "ih-"+name), fmt.Sprintf("%-20s", "-PM0203-"+name)
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %T", *new(T))
		panic("unreachable")
	}
}

func noRecv[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %+v", v)
	case <-time.After(d):
	}
}

// fakeSwarm is a tracker.Handler, for the package's client against the
// Server, that records what it gets and hands out two numbered offers per
// announce.
type fakeSwarm struct {
	name      string
	next      atomic.Int64
	offers    chan tracker.Offer
	answers   chan tracker.Answer
	responses chan tracker.AnnounceResponse
}

func newFakeSwarm(name string) *fakeSwarm {
	return &fakeSwarm{
		name:      name,
		offers:    make(chan tracker.Offer, 100),
		answers:   make(chan tracker.Answer, 100),
		responses: make(chan tracker.AnnounceResponse, 100),
	}
}

func (f *fakeSwarm) Offers(_ context.Context, _ int) []tracker.LocalOffer {
	out := make([]tracker.LocalOffer, 0, 2)
	for range 2 {
		i := int(f.next.Add(1))
		sdp := fmt.Sprintf("v=0\r\no=- %d 2 IN IP4 127.0.0.1\r\ns=%s\r\n", i, f.name)
		out = append(out, tracker.LocalOffer{ID: offerIDFor(f.name, i), SDP: sdp})
	}
	return out
}

func (f *fakeSwarm) HandleOffer(o tracker.Offer)                       { f.offers <- o }
func (f *fakeSwarm) HandleAnswer(a tracker.Answer)                     { f.answers <- a }
func (f *fakeSwarm) HandleAnnounceResponse(r tracker.AnnounceResponse) { f.responses <- r }

// offerIDFor returns the 20-byte offer id fakeSwarm gives its i-th offer.
func offerIDFor(name string, i int) string {
	return fmt.Sprintf("%-20.20s", fmt.Sprintf("offer-%s-%d", name, i))
}
