package trackerserver

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

// TestServerOffersReachTheSeedFirst: in a swarm larger than an announce's
// offers, every announce still relays one offer to each trusted member (the
// seed) and the rest to distinct ordinary members. Picked at random, as
// wt-tracker picks them, 5 offers in a swarm of 41 would miss the seed in
// about 7 of 8 announces.
func TestServerOffersReachTheSeedFirst(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.TrustedToken = "seed-secret" })
	ih := fmt.Sprintf("%-20s", "seeds-first")
	seed := h.dial(http.Header{TrustedTokenHeader: {"seed-secret"}})
	seed.send(announceMsg(ih, "-SP0100-seed00000000", "started", 0))
	seed.next()
	browsers := make([]*rawClient, 40)
	for i := range browsers {
		browsers[i] = h.dial(nil)
		browsers[i].send(announceMsg(ih, fmt.Sprintf("-PM0203-idle%08d", i), "started", 0))
		browsers[i].next()
	}

	// offerFrom reads one relayed offer and returns its sender and offer id.
	offerFrom := func(c *rawClient) (string, string) {
		m, _ := c.next()
		require.NotNil(t, m.Offer)
		return m.PeerID, m.OfferID
	}
	for round := range 20 {
		sender := h.dial(nil)
		pid := fmt.Sprintf("-PM0203-send%08d", round)
		offers := make([]wire.TrackerOffer, 5)
		for i := range offers {
			offers[i] = testOffer(fmt.Sprintf("o%d-%d", round, i), "sdp")
		}
		sender.send(announceMsg(ih, pid, "started", 5, offers...))
		sender.next()
		from, _ := offerFrom(seed)
		require.Equal(t, pid, from, "round %d: the seed got no offer", round)
		require.Eventually(t, func() bool { return queued(browsers) == 4 }, waitFor, time.Millisecond,
			"round %d: the other offers go to four browsers", round)
		seen := map[string]bool{}
		for _, b := range browsers {
			if len(b.frames) > 0 {
				from, id := offerFrom(b)
				require.Equal(t, pid, from)
				require.False(t, seen[id], "offer %s relayed twice", id)
				seen[id] = true
			}
		}
		// The sender stays: later rounds may pick it as an ordinary member.
		browsers = append(browsers, sender)
	}

	// Gone, the seed is skipped; nothing is lost.
	seed.send(announceMsg(ih, "-SP0100-seed00000000", "stopped", 0))
	seed.none(20 * time.Millisecond)
	last := h.dial(nil)
	offers := make([]wire.TrackerOffer, 5)
	for i := range offers {
		offers[i] = testOffer(fmt.Sprintf("last-%d", i), "sdp")
	}
	last.send(announceMsg(ih, "-PM0203-last00000000", "started", 5, offers...))
	last.next()
	require.Eventually(t, func() bool { return queued(browsers) == 5 }, waitFor, time.Millisecond)
	seed.none(20 * time.Millisecond)
}

// queued counts the frames received and not yet read by cs.
func queued(cs []*rawClient) int {
	n := 0
	for _, c := range cs {
		n += len(c.frames)
	}
	return n
}

// TestSwarmKeepsSeedsInFront joins and leaves trusted and ordinary peers at
// random and checks after every step that the seeds are members[:seeds],
// that every membership's index points at its peer, and that relays picks
// each seed and distinct members.
func TestSwarmKeepsSeedsInFront(t *testing.T) {
	s, err := New(Config{Logger: zerolog.Nop(), Metrics: NewMetrics(prometheus.NewRegistry())})
	require.NoError(t, err)
	trusted, plain := &sconn{s: s, trusted: true}, &sconn{s: s}
	var ih id20
	copy(ih[:], "seeds-in-front------")
	rng := rand.New(rand.NewPCG(1, 2))
	var in []id20
	check := func(step int) {
		sw := s.swarms[ih]
		if sw == nil {
			require.Empty(t, in, "step %d", step)
			return
		}
		require.Len(t, sw.members, len(in), "step %d", step)
		seeds := 0
		for i, q := range sw.members {
			require.Equal(t, int32(i), q.find(sw).idx, "step %d: member %d's index", step, i)
			require.Equal(t, i < sw.seeds, q.c.trusted, "step %d: member %d of %d seeds", step, i, sw.seeds)
			if q.c.trusted {
				seeds++
			}
		}
		require.Equal(t, seeds, sw.seeds)
		for _, p := range sw.members {
			want := min(len(sw.members)-1, 3)
			rs := sw.relays(p, 3)
			require.Len(t, rs, want, "step %d", step)
			got := map[*sconn]int{}
			for _, r := range rs {
				got[r.to]++
			}
			seedsToReach := sw.seeds
			if p.c.trusted {
				seedsToReach--
			}
			require.Equal(t, min(seedsToReach, want), got[trusted], "step %d: seeds reached", step)
		}
	}
	for step := range 3000 {
		s.mu.Lock()
		if len(in) > 0 && (rng.IntN(2) == 0 || len(in) > 30) {
			k := rng.IntN(len(in))
			p := s.peers[in[k]]
			s.removePeer(p)
			in = append(in[:k], in[k+1:]...)
		} else {
			var pid id20
			copy(pid[:], fmt.Sprintf("peer-%015d", step))
			c := plain
			if rng.IntN(5) == 0 {
				c = trusted
			}
			_, _, failure, _ := s.join(c, ih, pid, int64(step), false)
			require.Empty(t, failure)
			in = append(in, pid)
		}
		check(step)
		s.mu.Unlock()
	}
}
