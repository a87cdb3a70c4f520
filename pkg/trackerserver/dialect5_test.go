package trackerserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/tracker/trackertest"
	"github.com/superpeer/superpeer/pkg/wire"
)

// Tests with simulated P2P Media Loader 5.x browsers (trackertest.Browser:
// one socket, one "-PM0500-" peer id in every swarm, the JSON of
// webtorrent-client/index.ts; protocol-v3.md §3).

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// v3Hash returns a 20-character info hash like 5.x's base64(sha1[0:15]).
func v3Hash(name string) string { return fmt.Sprintf("%-20.20s", "v3+"+name) }

// nextOf returns the next message of b for which keep is true, skipping the
// others (announce responses, offers of other tests' flows).
func nextOf(t *testing.T, b *trackertest.Browser, keep func(*wire.TrackerMessage) bool) (*wire.TrackerMessage, []byte) {
	t.Helper()
	ctx := testCtx(t)
	for {
		m, raw, err := b.Next(ctx)
		require.NoError(t, err)
		if keep(m) {
			return m, raw
		}
	}
}

func isOffer(m *wire.TrackerMessage) bool    { return m.Offer != nil }
func isAnswer(m *wire.TrackerMessage) bool   { return m.Answer != nil }
func isResponse(m *wire.TrackerMessage) bool { return m.Kind() == wire.TrackerKindResponse }

// nothingFrom requires that b gets no message for d.
func nothingFrom(t *testing.T, b *trackertest.Browser, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, raw, err := b.Next(ctx)
	require.Error(t, err, "unexpected %q (%+v)", raw, m)
}

// TestServer5xOneSocketManySwarms: one socket and one peer id in three
// swarms; offers relayed per swarm, answers routed back within their swarm,
// "stopped" with offers [] leaving one swarm only; the responses never carry
// "tracker id" and the announces' "trackerid" is accepted.
func TestServer5xOneSocketManySwarms(t *testing.T) {
	h := newServerHarness(t, nil)
	ihs := []string{v3Hash("main"), v3Hash("audio"), v3Hash("rendition-2")}
	x := trackertest.DialBrowser(t, h.url, "")
	y := trackertest.DialBrowser(t, h.url, "")
	for _, ih := range ihs {
		require.NoError(t, x.Announce(ih, "started"))
		_, raw := nextOf(t, x, isResponse)
		require.Equal(t, responseJSON(60, ih, 0, 1), string(raw))
	}
	offers := map[string]trackertest.BrowserOffer{}
	for _, ih := range ihs {
		o := trackertest.NewBrowserOffer("v=0\r\ns=y-" + ih + "\r\n")
		offers[ih] = o
		require.NoError(t, y.Announce(ih, "started", o))
		_, raw := nextOf(t, y, isResponse)
		require.Equal(t, responseJSON(60, ih, 0, 2), string(raw)) // no "tracker id"
	}
	require.Equal(t, Stats{Connections: 2, Peers: 6, PeerIDs: 2, Swarms: 3}, h.srv.Stats())

	for range ihs {
		m, _ := nextOf(t, x, isOffer)
		o := offers[m.InfoHash]
		require.Equal(t, o.ID, m.OfferID, "offer relayed in its own swarm")
		require.Equal(t, y.PeerID, m.PeerID)
		require.Equal(t, o.SDP, m.Offer.SDP)
		require.NoError(t, x.Answer(m.InfoHash, y.PeerID, m.OfferID, "answer-in-"+m.InfoHash))
	}
	for range ihs {
		m, raw := nextOf(t, y, isAnswer)
		require.Equal(t, offers[m.InfoHash].ID, m.OfferID)
		require.Equal(t, "answer-in-"+m.InfoHash, m.Answer.SDP)
		require.Equal(t, x.PeerID, m.PeerID)
		require.NotContains(t, string(raw), "to_peer_id")
	}

	// A 5.x "stopped" (numwant 0, offers []) leaves one swarm; a later
	// announce may echo a trackerid the server never issued.
	require.NoError(t, y.Stop(ihs[0]))
	require.Eventually(t, func() bool { return h.srv.Stats().Peers == 5 }, waitFor, time.Millisecond)
	require.NoError(t, y.SendRaw(trackertest.AnnounceJSON5(ihs[1], y.PeerID, "", "some-tracker-id", nil)))
	_, raw := nextOf(t, y, isResponse)
	require.Equal(t, responseJSON(60, ihs[1], 0, 2), string(raw))
	require.Equal(t, Stats{Connections: 2, Peers: 5, PeerIDs: 2, Swarms: 3}, h.srv.Stats())
	require.Equal(t, 0.0, h.dropped(dropInvalid))
}

// TestServer5xNumwantZero: an announce with numwant 0 and offers [] (a 5.x
// browser at p2pMaxPeers) registers the peer, relays nothing from it, and it
// still receives others' offers.
func TestServer5xNumwantZero(t *testing.T) {
	h := newServerHarness(t, nil)
	ih := v3Hash("full")
	others := make([]*trackertest.Browser, 3)
	for i := range others {
		others[i] = trackertest.DialBrowser(t, h.url, "")
		require.NoError(t, others[i].Announce(ih, "started"))
		nextOf(t, others[i], isResponse)
	}
	full := trackertest.DialBrowser(t, h.url, "")
	require.NoError(t, full.Announce(ih, ""))
	_, raw := nextOf(t, full, isResponse)
	require.Equal(t, responseJSON(60, ih, 0, 4), string(raw))
	for _, o := range others {
		nothingFrom(t, o, 30*time.Millisecond)
	}
	require.Equal(t, 0.0, testutil.ToFloat64(h.m.relayed.WithLabelValues("offer")))

	// Three offers from one of the others: one reaches the full browser.
	offers := []trackertest.BrowserOffer{trackertest.NewBrowserOffer("a"), trackertest.NewBrowserOffer("b"),
		trackertest.NewBrowserOffer("c")}
	require.NoError(t, others[0].Announce(ih, "", offers...))
	m, _ := nextOf(t, full, isOffer)
	require.Equal(t, others[0].PeerID, m.PeerID)
}

// TestServer5xFiveOffers: a 5.x announce's 5 offers go to 5 distinct peers
// of a larger swarm, one each, and to every peer of a smaller one.
func TestServer5xFiveOffers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		others int
		want   int
	}{
		{name: "swarm of 8", others: 7, want: 5},
		{name: "swarm of 4", others: 3, want: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newServerHarness(t, nil)
			ih := v3Hash("five")
			others := make([]*trackertest.Browser, tc.others)
			for i := range others {
				others[i] = trackertest.DialBrowser(t, h.url, "")
				require.NoError(t, others[i].Announce(ih, "started"))
				nextOf(t, others[i], isResponse)
			}
			sender := trackertest.DialBrowser(t, h.url, "")
			offers := make([]trackertest.BrowserOffer, 5)
			for i := range offers {
				offers[i] = trackertest.NewBrowserOffer(fmt.Sprintf("v=0\r\ns=%d\r\n", i))
			}
			require.NoError(t, sender.Announce(ih, "started", offers...))
			nextOf(t, sender, isResponse)
			require.Eventually(t, func() bool {
				return testutil.ToFloat64(h.m.relayed.WithLabelValues("offer")) == float64(tc.want)
			}, waitFor, time.Millisecond)
			got := map[string]bool{}
			for _, o := range others {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
				m, _, err := o.Next(ctx)
				cancel()
				if err != nil {
					continue
				}
				require.NotNil(t, m.Offer)
				require.False(t, got[m.OfferID], "offer %s relayed twice", m.OfferID)
				got[m.OfferID] = true
				nothingFrom(t, o, 10*time.Millisecond) // one offer per peer
			}
			require.Len(t, got, tc.want)
		})
	}
}

// TestServer5xAnswerWithinSwarm: an answer is routed to to_peer_id only if
// that peer is in the answer's swarm; elsewhere it is dropped, not delivered
// to the same peer id in another swarm.
func TestServer5xAnswerWithinSwarm(t *testing.T) {
	h := newServerHarness(t, nil)
	ih1, ih2 := v3Hash("one"), v3Hash("two")
	a := trackertest.DialBrowser(t, h.url, "")
	b := trackertest.DialBrowser(t, h.url, "")
	require.NoError(t, a.Announce(ih1, "started"))
	nextOf(t, a, isResponse)
	require.NoError(t, b.Announce(ih2, "started"))
	nextOf(t, b, isResponse)
	require.NoError(t, b.Answer(ih2, a.PeerID, trackertest.RandomAlnum(20), "x")) // a is not in ih2
	require.Eventually(t, func() bool { return h.dropped(dropUnknownPeer) == 1 }, waitFor, time.Millisecond)
	nothingFrom(t, a, 30*time.Millisecond)
	require.NoError(t, b.Answer(ih1, a.PeerID, "offer-id-in-swarm-1x", "y")) // b is not in ih1: still relayed
	m, _ := nextOf(t, a, isAnswer)
	require.Equal(t, ih1, m.InfoHash)
}

// TestServer5xGlare: two 5.x browsers offer to each other at once. Each gets
// the other's offer and the answer to its own; the server drops neither
// (which handshake to keep is the peers' choice: the lower peer id's offer).
func TestServer5xGlare(t *testing.T) {
	h := newServerHarness(t, nil)
	ih := v3Hash("glare")
	a := trackertest.DialBrowser(t, h.url, "-PM0500-AAAAAAAAAAAA")
	b := trackertest.DialBrowser(t, h.url, "-PM0500-BBBBBBBBBBBB")
	for _, p := range []*trackertest.Browser{a, b} {
		require.NoError(t, p.Announce(ih, "started"))
		nextOf(t, p, isResponse)
	}
	oa, ob := trackertest.NewBrowserOffer("sdp-offer-a"), trackertest.NewBrowserOffer("sdp-offer-b")
	// Both announces are written before either reads anything.
	require.NoError(t, a.Announce(ih, "", oa))
	require.NoError(t, b.Announce(ih, "", ob))
	ma, _ := nextOf(t, a, isOffer)
	mb, _ := nextOf(t, b, isOffer)
	require.Equal(t, [2]string{b.PeerID, ob.ID}, [2]string{ma.PeerID, ma.OfferID})
	require.Equal(t, [2]string{a.PeerID, oa.ID}, [2]string{mb.PeerID, mb.OfferID})
	require.NoError(t, a.Answer(ih, b.PeerID, ob.ID, "sdp-answer-a"))
	require.NoError(t, b.Answer(ih, a.PeerID, oa.ID, "sdp-answer-b"))
	ra, _ := nextOf(t, a, isAnswer)
	rb, _ := nextOf(t, b, isAnswer)
	require.Equal(t, [3]string{b.PeerID, oa.ID, "sdp-answer-b"}, [3]string{ra.PeerID, ra.OfferID, ra.Answer.SDP})
	require.Equal(t, [3]string{a.PeerID, ob.ID, "sdp-answer-a"}, [3]string{rb.PeerID, rb.OfferID, rb.Answer.SDP})
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.relayed.WithLabelValues("offer")))
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.relayed.WithLabelValues("answer")))
}

// TestServerGlareSuperpeerAnd5x: package tracker's client (superpeer, one
// peer id in two swarms over one socket) and a 5.x browser offer to each
// other at once in both swarms through the Server; each side gets the
// other's offer and the answer to its own, in the right swarm.
func TestServerGlareSuperpeerAnd5x(t *testing.T) {
	h := newServerHarness(t, nil)
	ihs := []string{v3Hash("sp-main"), v3Hash("sp-audio")}
	br := trackertest.DialBrowser(t, h.url, "")
	for _, ih := range ihs {
		require.NoError(t, br.Announce(ih, "started"))
		nextOf(t, br, isResponse)
	}

	c, err := tracker.NewClient(tracker.Config{URL: h.url, OffersPerAnnounce: 1,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	require.NoError(t, err)
	pid := "-PM0500-superpeer001"
	fs := map[string]*fakeSwarm{}
	for _, ih := range ihs {
		fs[ih] = newFakeSwarm(ih[3:7])
		_, err := c.Join(ih, pid, fs[ih])
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	for _, ih := range ihs {
		recv(t, fs[ih].responses) // superpeer is in the swarm, its offer on the way to the browser
	}

	// The browser's announces cross superpeer's unanswered offers.
	bo := map[string]trackertest.BrowserOffer{}
	for _, ih := range ihs {
		bo[ih] = trackertest.NewBrowserOffer("browser-offer-" + ih)
		require.NoError(t, br.Announce(ih, "", bo[ih]))
	}
	spOffers := map[string]*wire.TrackerMessage{}
	for len(spOffers) < len(ihs) {
		m, _ := nextOf(t, br, isOffer)
		require.Equal(t, pid, m.PeerID)
		spOffers[m.InfoHash] = m
	}
	for _, ih := range ihs {
		f := fs[ih]
		o := recv(t, f.offers)
		require.Equal(t, [3]string{ih, br.PeerID, bo[ih].ID}, [3]string{o.InfoHash, o.PeerID, o.OfferID})
		require.NoError(t, c.Answer(o, "sp-answer-"+ih))
		require.Equal(t, offerIDFor(f.name, 1), spOffers[ih].OfferID)
		require.NoError(t, br.Answer(ih, pid, spOffers[ih].OfferID, "browser-answer-"+ih))
	}
	for _, ih := range ihs {
		a := recv(t, fs[ih].answers)
		require.Equal(t, tracker.Answer{InfoHash: ih, PeerID: br.PeerID, OfferID: spOffers[ih].OfferID,
			SDP: "browser-answer-" + ih, Tracker: h.url}, a)
	}
	got := map[string]string{}
	for len(got) < len(ihs) {
		m, _ := nextOf(t, br, isAnswer)
		require.Equal(t, pid, m.PeerID)
		require.Equal(t, bo[m.InfoHash].ID, m.OfferID)
		got[m.InfoHash] = m.Answer.SDP
	}
	require.Equal(t, map[string]string{ihs[0]: "sp-answer-" + ihs[0], ihs[1]: "sp-answer-" + ihs[1]}, got)
	require.Equal(t, Stats{Connections: 2, Peers: 4, PeerIDs: 2, Swarms: 2}, h.srv.Stats())
}
