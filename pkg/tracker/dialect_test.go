package tracker

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/tracker/trackertest"
	"github.com/superpeer/superpeer/pkg/wire"
)

// Tests of the tracker dialects of protocol-v3.md §3 (P2PML 5.x) and
// protocol-v0.6.md §4 as they reach the client: one socket and one peer id
// for many swarms, numwant 0, trackerid per swarm, warnings and failures,
// and glare (the same remote peer offering to us and answering our offer).

// TestOnePeerIDManySwarmsOneSocket: swarms joined with one peer id share one
// socket, which wt-tracker keeps; a second peer id on it is closed by
// wt-tracker, which the client survives by redialling (and warns about).
func TestOnePeerIDManySwarmsOneSocket(t *testing.T) {
	h := newHarness(t, trackertest.Options{Relay: true, OnePeerIDPerConn: true, Interval: 100000}, nil)
	pid := "-PM0500-superpeer001"
	fs := make([]*fakeSwarm, 3)
	for i := range fs {
		ih, _ := ids(fmt.Sprintf("s%d", i))
		fs[i] = newFakeSwarm(fmt.Sprintf("s%d", i))
		_, err := h.client.Join(ih, pid, fs[i])
		require.NoError(t, err)
	}
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	seen := map[string]bool{}
	for range fs {
		m, _, err := conn.NextMessage(ctx)
		require.NoError(t, err)
		require.Equal(t, pid, m.PeerID)
		require.Equal(t, "started", m.Event)
		seen[m.InfoHash] = true
	}
	require.Len(t, seen, 3)
	for _, f := range fs {
		recv(t, f.responses)
	}
	select {
	case <-conn.Done():
		t.Fatal("wt-tracker closed the socket of one peer id in three swarms")
	case <-time.After(50 * time.Millisecond):
	}
	require.Equal(t, 1.0, h.counter("connects", "ok"))

	// A second peer id on the same socket: wt-tracker closes it.
	_, other := ids("other")
	ih, _ := ids("s-other")
	_, err := h.client.Join(ih, other, newFakeSwarm("other"))
	require.NoError(t, err)
	<-conn.Done()
	eventually(t, func() bool { return h.counter("connects", "ok") >= 2 })
}

// TestTrackerIDPerSwarm: "tracker id" from a response is echoed as
// "trackerid" in that swarm's later announces and answers only.
func TestTrackerIDPerSwarm(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, nil)
	fa, iha, pid, _ := h.join("a")
	fb := newFakeSwarm("b")
	ihb, _ := ids("b")
	_, err := h.client.Join(ihb, pid, fb)
	require.NoError(t, err)
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	for range 2 {
		_, _, err := conn.NextMessage(ctx)
		require.NoError(t, err)
	}
	iv := int64(10)
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", Interval: &iv, InfoHash: iha,
		ResponseTrackerID: "tid-a"}))
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", Interval: &iv, InfoHash: ihb}))
	recv(t, fa.responses)
	recv(t, fb.responses)
	got := map[string]string{}
	for len(got) < 2 {
		m, _, err := conn.NextMessage(ctx)
		require.NoError(t, err)
		got[m.InfoHash] = m.TrackerID
	}
	require.Equal(t, map[string]string{iha: "tid-a", ihb: ""}, got)

	// The answer in swarm a carries it too (websocket-tracker.js adds it).
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", InfoHash: iha, OfferID: "offer-remote-0000001",
		PeerID: "-PM0500-remote000001", Offer: &wire.TrackerSDP{Type: "offer", SDP: "remote"}}))
	require.NoError(t, h.client.Answer(recv(t, fa.offers), "ans"))
	for {
		m, _, err := conn.NextMessage(ctx)
		require.NoError(t, err)
		if m.Answer != nil {
			require.Equal(t, "tid-a", m.TrackerID)
			break
		}
	}
}

// TestNoOffersAnnounce: a negative OffersPerAnnounce asks the Handler for
// nothing and announces numwant 0 with offers [], byte for byte what the
// bittorrent-tracker client and P2PML 5.x send when they make no offers.
func TestNoOffersAnnounce(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, func(c *Config) { c.OffersPerAnnounce = -1 })
	f, ih, pid, _ := h.join("a")
	h.start()
	conn := h.accept()
	b, err := conn.Next(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, `{"numwant":0,"uploaded":0,"downloaded":0,"event":"started","action":"announce","info_hash":"`+ih+
		`","peer_id":"`+pid+`","offers":[]}`, string(b))
	noRecv(t, f.asked, 20*time.Millisecond)
}

// TestDefaultOffersPerAnnounce documents the default (see Config).
func TestDefaultOffersPerAnnounce(t *testing.T) {
	var cfg Config
	cfg.setDefaults()
	require.Equal(t, 10, cfg.OffersPerAnnounce)
}

// TestWarningsAndFailures: a "warning message" is reported with the rest of
// the response; a "failure reason" stops processing (no interval, no Handler
// call), as in both browser clients; failures and warnings naming no swarm
// are logged, not counted as unknown swarms.
func TestWarningsAndFailures(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, nil)
	f, ih, _, _ := h.join("a")
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	_, _, err := conn.NextMessage(ctx)
	require.NoError(t, err)

	iv := int64(40)
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", WarningMessage: "slow down", Interval: &iv,
		InfoHash: ih}))
	r := recv(t, f.responses)
	require.Equal(t, "slow down", r.Warning)
	require.Equal(t, 40*time.Millisecond, r.Interval)

	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", FailureReason: "swarm is full",
		Interval: &iv, InfoHash: ih}))
	require.NoError(t, conn.Send([]byte(`{"failure reason":"invalid peer_id"}`)))
	require.NoError(t, conn.Send([]byte(`{"warning message":"hello"}`)))
	eventually(t, func() bool { return h.counter("messages", dirIn, kindFailure) == 2 })
	eventually(t, func() bool { return h.counter("messages", dirIn, kindResponse) == 2 })
	noRecv(t, f.responses, 20*time.Millisecond)
	require.Equal(t, 0.0, h.counter("dropped", dropUnknownSwarm))
}

// TestGlareDelivered: a 5.x browser and the client offer to each other at
// once through the wt-tracker-like relay. The client hands the browser's
// offer to HandleOffer and the browser's answer to its own offer to
// HandleAnswer, whatever the Handler then decides (P2PML 5.x keeps the
// handshake offered by the lower peer id).
func TestGlareDelivered(t *testing.T) {
	h := newHarness(t, trackertest.Options{Relay: true, OnePeerIDPerConn: true, Interval: 100000},
		func(c *Config) { c.OffersPerAnnounce = 1 })
	ctx := testCtx(t)
	ih := "v3-ihAAAAAAAAAAAAAAA"
	br := trackertest.DialBrowser(t, h.srv.URL, "")
	require.NoError(t, br.Announce(ih, "started")) // numwant 0: registers only
	_, _, err := br.Next(ctx)
	require.NoError(t, err)

	pid := "-PM0500-superpeer001"
	f := newFakeSwarm("sp")
	_, err = h.client.Join(ih, pid, f)
	require.NoError(t, err)
	h.start()
	recv(t, f.responses)

	// The client's started announce reached the browser; the browser's
	// periodic announce, with one offer, crosses it.
	bo := trackertest.NewBrowserOffer("v=0\r\ns=browser\r\n")
	require.NoError(t, br.Announce(ih, "", bo))
	var ours *wire.TrackerMessage
	for ours == nil {
		m, _, err := br.Next(ctx)
		require.NoError(t, err)
		if m.Offer != nil {
			ours = m
		}
	}
	require.Equal(t, pid, ours.PeerID)
	require.Equal(t, offerIDFor("sp", 1), ours.OfferID)

	o := recv(t, f.offers)
	require.Equal(t, Offer{InfoHash: ih, PeerID: br.PeerID, OfferID: bo.ID, SDP: bo.SDP, Tracker: h.client.url,
		gen: o.gen, received: o.received}, o)
	require.NoError(t, br.Answer(ih, pid, ours.OfferID, "v=0\r\ns=browser-answer\r\n"))
	require.NoError(t, h.client.Answer(o, "v=0\r\ns=superpeer-answer\r\n"))

	a := recv(t, f.answers)
	require.Equal(t, Answer{InfoHash: ih, PeerID: br.PeerID, OfferID: ours.OfferID, SDP: "v=0\r\ns=browser-answer\r\n",
		Tracker: h.client.url}, a)
	for {
		m, _, err := br.Next(ctx)
		require.NoError(t, err)
		if m.Answer != nil {
			require.Equal(t, pid, m.PeerID)
			require.Equal(t, bo.ID, m.OfferID)
			require.Equal(t, "v=0\r\ns=superpeer-answer\r\n", m.Answer.SDP)
			break
		}
	}
}
