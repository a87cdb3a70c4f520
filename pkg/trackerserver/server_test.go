package trackerserver

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/wire"
)

// fakeClock is an injectable Config.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type serverHarness struct {
	t   *testing.T
	srv *Server
	ts  *httptest.Server
	url string // ws://127.0.0.1:port
	reg *prometheus.Registry
	m   *Metrics

	cancel context.CancelFunc
	done   chan error
}

func newServerHarness(t *testing.T, tune func(*Config)) *serverHarness {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	cfg := Config{
		Logger:  zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Metrics: m,
	}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	h := &serverHarness{t: t, srv: srv, reg: reg, m: m, done: make(chan error, 1)}
	// Served as superpeer serves it: its own http.Server and listener.
	h.ts = httptest.NewUnstartedServer(srv)
	h.ts.Config = srv.NewHTTPServer()
	h.ts.Listener = srv.Listener(h.ts.Listener)
	h.ts.Start()
	h.url = "ws" + strings.TrimPrefix(h.ts.URL, "http")
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		h.stop()
		h.ts.Close()
	})
	return h
}

// stop cancels Run and requires it to return nil promptly.
func (h *serverHarness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		require.NoError(h.t, err)
	case <-time.After(shutdownTimeout + 3*time.Second):
		h.t.Fatal("Server.Run did not return after cancel")
	}
}

func (h *serverHarness) dropped(reason string) float64 {
	return testutil.ToFloat64(h.m.dropped.WithLabelValues(reason))
}

// rawClient is a bare gorilla WebSocket to the server with a reader goroutine.
type rawClient struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan []byte
	done   chan struct{}
	err    error // why the reader ended; read after done
}

func (h *serverHarness) dial(header http.Header) *rawClient {
	h.t.Helper()
	c, err := h.tryDial(header, false)
	require.NoError(h.t, err)
	return c
}

func (h *serverHarness) tryDial(header http.Header, compress bool) (*rawClient, error) {
	d := websocket.Dialer{EnableCompression: compress, HandshakeTimeout: waitFor}
	ws, resp, err := d.Dial(h.url+"/announce", header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: http %d: %w", resp.StatusCode, err)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &rawClient{t: h.t, ws: ws, frames: make(chan []byte, 256), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			c.frames <- b
		}
	}()
	h.t.Cleanup(c.close)
	return c, nil
}

func (c *rawClient) close() {
	_ = c.ws.Close()
	<-c.done
}

func (c *rawClient) sendRaw(b []byte) {
	c.t.Helper()
	require.NoError(c.t, c.ws.WriteMessage(websocket.TextMessage, b))
}

func (c *rawClient) send(m *wire.TrackerMessage) {
	c.t.Helper()
	c.sendRaw(m.AppendJSON(nil))
}

// next returns the next frame, raw and decoded.
func (c *rawClient) next() (*wire.TrackerMessage, []byte) {
	c.t.Helper()
	select {
	case b := <-c.frames:
		m, err := wire.DecodeTrackerMessage(b)
		require.NoError(c.t, err, "frame %q", b)
		return m, b
	case <-c.done:
		c.t.Fatalf("connection closed: %v", c.err)
	case <-time.After(waitFor):
		c.t.Fatal("timed out waiting for a frame")
	}
	return nil, nil
}

func (c *rawClient) none(d time.Duration) {
	c.t.Helper()
	select {
	case b := <-c.frames:
		c.t.Fatalf("unexpected frame %q", b)
	case <-time.After(d):
	}
}

// closed waits for the server to end the connection and returns the close
// error.
func (c *rawClient) closed() error {
	c.t.Helper()
	for {
		select {
		case <-c.frames:
		case <-c.done:
			return c.err
		case <-time.After(waitFor):
			c.t.Fatal("connection not closed")
			return nil
		}
	}
}

func i64(v int64) *int64 { return &v }

func announceMsg(ih, pid, event string, numwant int64, offers ...wire.TrackerOffer) *wire.TrackerMessage {
	m := &wire.TrackerMessage{Action: "announce", NumWant: i64(numwant), Uploaded: i64(0), Downloaded: i64(0),
		Event: event, InfoHash: ih, PeerID: pid}
	if len(offers) > 0 {
		m.Offers = offers
	}
	return m
}

func testOffer(id, sdp string) wire.TrackerOffer {
	return wire.TrackerOffer{Offer: wire.TrackerSDP{Type: "offer", SDP: sdp}, OfferID: id}
}

func answerMsg(ih, from, to, offerID, sdp string) *wire.TrackerMessage {
	return &wire.TrackerMessage{Action: "announce", InfoHash: ih, PeerID: from, ToPeerID: to,
		Answer: &wire.TrackerSDP{Type: "answer", SDP: sdp}, OfferID: offerID}
}

// responseJSON is the announce response the server must send, byte for byte.
func responseJSON(interval int64, ih string, complete, incomplete int64) string {
	m := wire.TrackerMessage{Action: "announce", Interval: &interval, InfoHash: ih, Complete: &complete, Incomplete: &incomplete}
	return string(m.AppendJSON(nil))
}

// binaryID returns a 20-byte id whose bytes cover the ranges that need care:
// control characters, '"', '\\', 0x7F and 0x80..0xFF.
func binaryID(seed byte) string {
	b := []byte{0x00, 0xff, 0x10, 0x7f, 0x80, 0xc3, '"', '\\', 0x1f, 0x9b, 0xa0, 0xfe, 0x20, 0x41, 0xe2, 0x80, 0xa8, 0x0a, 0x0d, seed}
	return string(b)
}

func TestServerTwoClientsExchangeOfferAnswer(t *testing.T) {
	h := newServerHarness(t, nil)
	runClient := func(name string) (*tracker.Client, *fakeSwarm, string, string) {
		c, err := tracker.NewClient(tracker.Config{URL: h.url, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
		require.NoError(t, err)
		ih, _ := ids("shared")
		_, pid := ids(name)
		f := newFakeSwarm(name)
		_, err = c.Join(ih, pid, f)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done)
		})
		return c, f, pid, ih
	}
	ca, fa, pida, ih := runClient("a")
	r := recv(t, fa.responses)
	require.Equal(t, tracker.AnnounceResponse{InfoHash: ih, Tracker: h.url, Interval: time.Minute, Complete: 0, Incomplete: 1}, r)

	_, fb, pidb, _ := runClient("b")
	r = recv(t, fb.responses)
	require.Equal(t, int64(2), r.Incomplete)
	o := recv(t, fa.offers) // b's started announce carries 2 offers; one peer to send to
	require.Equal(t, pidb, o.PeerID)
	require.Equal(t, offerIDFor("b", 1), o.OfferID)
	require.Contains(t, o.SDP, "s=b\r\n")
	noRecv(t, fa.offers, 50*time.Millisecond) // min(others=1, offers=2)

	require.NoError(t, ca.Answer(o, "v=0\r\ns=answer-from-a\r\n"))
	a := recv(t, fb.answers)
	require.Equal(t, tracker.Answer{InfoHash: ih, PeerID: pida, OfferID: o.OfferID, SDP: "v=0\r\ns=answer-from-a\r\n", Tracker: h.url}, a)

	require.Equal(t, Stats{Connections: 2, Peers: 2, PeerIDs: 2, Swarms: 1}, h.srv.Stats())
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.relayed.WithLabelValues("offer")))
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.relayed.WithLabelValues("answer")))
	require.Eventually(t, func() bool { // counted once written
		return testutil.ToFloat64(h.m.messages.WithLabelValues("out", "response")) == 2
	}, waitFor, time.Millisecond)
}

func TestServerAnnounceResponseBytes(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.Interval = 45 * time.Second })
	a := h.dial(nil)
	ih, pid := ids("resp")
	a.send(announceMsg(ih, pid, "started", 5))
	_, b := a.next()
	require.Equal(t, `{"action":"announce","interval":45,"info_hash":"ih-resp             ","complete":0,"incomplete":1}`, string(b))

	// completed and left:0 count as complete (wt-tracker isPeerCompleted).
	c := h.dial(nil)
	_, pidc := ids("resp-c")
	m := announceMsg(ih, pidc, "", 5)
	m.Left = i64(0)
	c.send(m)
	_, b = c.next()
	require.Equal(t, responseJSON(45, ih, 1, 1), string(b))
	a.send(announceMsg(ih, pid, "completed", 5))
	_, b = a.next()
	require.Equal(t, responseJSON(45, ih, 2, 0), string(b))
	a.send(announceMsg(ih, pid, "completed", 5)) // no double count
	_, b = a.next()
	require.Equal(t, responseJSON(45, ih, 2, 0), string(b))
}

// TestServerBinaryIDs: ids with bytes >= 0x80, control characters and
// quotes survive decode, relay and re-encode exactly, in JSON.stringify form.
func TestServerBinaryIDs(t *testing.T) {
	h := newServerHarness(t, nil)
	ih, pa, pb, oid := binaryID(1), binaryID(2), binaryID(3), binaryID(4)
	a, b := h.dial(nil), h.dial(nil)
	a.send(announceMsg(ih, pa, "started", 5))
	_, raw := a.next()
	require.Equal(t, responseJSON(60, ih, 0, 1), string(raw))
	// The raw frame carries 0xFF as U+00FF (c3 bf) and 0x80 as U+0080 (c2 80).
	require.True(t, bytes.Contains(raw, []byte{'"', '\\', 'u', '0', '0', '0', '0', 0xc3, 0xbf, '\\', 'u', '0', '0', '1', '0', 0x7f, 0xc2, 0x80}), "%x", raw)

	b.send(announceMsg(ih, pb, "started", 5, testOffer(oid, "v=0\r\nsdp-b\r\n")))
	_, raw = b.next()
	require.Equal(t, responseJSON(60, ih, 0, 2), string(raw))
	m, raw := a.next()
	want := wire.TrackerMessage{Action: "announce", InfoHash: ih, OfferID: oid, PeerID: pb,
		Offer: &wire.TrackerSDP{Type: "offer", SDP: "v=0\r\nsdp-b\r\n"}}
	require.Equal(t, string(want.AppendJSON(nil)), string(raw)) // wt-tracker's member order
	require.Equal(t, pb, m.PeerID)
	require.Equal(t, oid, m.OfferID)

	a.send(answerMsg(ih, pa, pb, oid, "v=0\r\nanswer-a\r\n"))
	m, raw = b.next()
	wantAnswer := wire.TrackerMessage{Action: "announce", InfoHash: ih, PeerID: pa,
		Answer: &wire.TrackerSDP{Type: "answer", SDP: "v=0\r\nanswer-a\r\n"}, OfferID: oid}
	require.Equal(t, string(wantAnswer.AppendJSON(nil)), string(raw)) // to_peer_id stripped
	require.Empty(t, m.ToPeerID)
	a.none(50 * time.Millisecond) // no reply to an answer
}

// TestServerV06Announce replays a P2P Media Loader 0.6 announce: info_hash is
// SHA-1("2" + stream swarm id), 20 raw bytes (protocol-v0.6.md §2.3-2.4, 4.2),
// one peer id for all swarms, 10 offers, "stopped" on swarm change.
func TestServerV06Announce(t *testing.T) {
	h := newServerHarness(t, nil)
	sum := sha1.Sum([]byte("2https://example.com/live/master.m3u8+V0"))
	ih := string(sum[:])
	require.Equal(t, "ae9cd6bf657a583a6f33711f1cae11fa25c19b43", hex.EncodeToString(sum[:]))
	// The JSON form from protocol-v0.6.md §4.2, as the browser sends it.
	ihJSON, err := hex.DecodeString("22c2aec29cc396c2bf657a583a6f33715c75303031665c7530303163c2ae5c7530303131c3ba25c381c29b4322")
	require.NoError(t, err)
	a, b := h.dial(nil), h.dial(nil)
	pa, pb := "-WW0006-tG6XrjsE8TPp", "-WW0006-aaaaaaaaaaaa"
	a.sendRaw([]byte(`{"numwant":10,"uploaded":0,"downloaded":0,"event":"started","action":"announce","info_hash":` +
		string(ihJSON) + `,"peer_id":"` + pa + `"}`))
	_, raw := a.next()
	require.Equal(t, `{"action":"announce","interval":60,"info_hash":`+string(ihJSON)+`,"complete":0,"incomplete":1}`, string(raw))

	offers := make([]wire.TrackerOffer, 10)
	for i := range offers {
		offers[i] = testOffer(fmt.Sprintf("offer-id-%011d", i), fmt.Sprintf("v=0\r\no=- %d\r\n", i))
	}
	b.send(announceMsg(ih, pb, "started", 10, offers...))
	b.next()
	m, _ := a.next()
	require.Equal(t, pb, m.PeerID)
	require.Equal(t, offers[0].OfferID, m.OfferID)
	a.none(50 * time.Millisecond) // one other peer, one offer

	// Swarm switch: stopped in V0, started in V1 with the same peer id.
	sum1 := sha1.Sum([]byte("2https://example.com/live/master.m3u8+V1"))
	b.send(&wire.TrackerMessage{Action: "announce", NumWant: i64(10), Uploaded: i64(0), Downloaded: i64(0), Event: "stopped",
		InfoHash: ih, PeerID: pb})
	b.send(announceMsg(string(sum1[:]), pb, "started", 10))
	_, raw = b.next()
	require.Equal(t, responseJSON(60, string(sum1[:]), 0, 1), string(raw))
	require.Equal(t, Stats{Connections: 2, Peers: 2, PeerIDs: 2, Swarms: 2}, h.srv.Stats())
}

// TestServerMultiSwarm: one socket carries several peers (P2PML 2.x: a peer id
// per swarm) and one peer in several swarms (0.6); stopped removes one
// membership, disconnect removes all.
func TestServerMultiSwarm(t *testing.T) {
	h := newServerHarness(t, nil)
	ih1, ih2 := fmt.Sprintf("%-20s", "swarm-1"), fmt.Sprintf("%-20s", "swarm-2")
	pa1, pa2, pb := fmt.Sprintf("%-20s", "-PM0203-a1"), fmt.Sprintf("%-20s", "-PM0203-a2"), fmt.Sprintf("%-20s", "-WW0006-b")
	a, b := h.dial(nil), h.dial(nil)
	a.send(announceMsg(ih1, pa1, "started", 5))
	a.next()
	a.send(announceMsg(ih2, pa2, "started", 5))
	a.next()
	b.send(announceMsg(ih1, pb, "started", 5, testOffer("o1", "sdp-1")))
	b.next()
	b.send(announceMsg(ih2, pb, "started", 5, testOffer("o2", "sdp-2")))
	b.next()
	require.Equal(t, Stats{Connections: 2, Peers: 4, PeerIDs: 3, Swarms: 2}, h.srv.Stats())

	m1, _ := a.next()
	m2, _ := a.next()
	require.Equal(t, []string{ih1 + "o1", ih2 + "o2"}, []string{m1.InfoHash + m1.OfferID, m2.InfoHash + m2.OfferID})
	// Answers from both of a's peers reach b, the one peer id in both swarms.
	a.send(answerMsg(ih1, pa1, pb, "o1", "ans-1"))
	a.send(answerMsg(ih2, pa2, pb, "o2", "ans-2"))
	r1, _ := b.next()
	r2, _ := b.next()
	require.Equal(t, []string{pa1 + "ans-1", pa2 + "ans-2"}, []string{r1.PeerID + r1.Answer.SDP, r2.PeerID + r2.Answer.SDP})

	// stopped removes one membership; b stays in swarm 2.
	b.send(&wire.TrackerMessage{Action: "announce", Event: "stopped", InfoHash: ih1, PeerID: pb})
	require.Eventually(t, func() bool { return h.srv.Stats().Peers == 3 }, waitFor, time.Millisecond)
	b.send(announceMsg(ih2, pb, "", 5))
	_, raw := b.next()
	require.Equal(t, responseJSON(60, ih2, 0, 2), string(raw))
	// A peer of another socket cannot be stopped from here.
	b.send(&wire.TrackerMessage{Action: "announce", Event: "stopped", InfoHash: ih2, PeerID: pa2})
	b.send(announceMsg(ih2, pb, "", 5))
	_, raw = b.next()
	require.Equal(t, responseJSON(60, ih2, 0, 2), string(raw))

	// Disconnecting a removes both of its peers.
	a.close()
	require.Eventually(t, func() bool { return h.srv.Stats() == Stats{Connections: 1, Peers: 1, PeerIDs: 1, Swarms: 1} },
		waitFor, time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.closed.WithLabelValues(closeClient)))
}

// TestServerOfferFanOut checks wt-tracker's receiver choice:
// min(others, offers, MaxOffers, numwant) distinct peers.
func TestServerOfferFanOut(t *testing.T) {
	tests := []struct {
		name      string
		maxOffers int
		others    int
		offers    int
		numwant   *int64
		want      int
	}{
		{name: "offers for every other peer", others: 5, offers: 10, numwant: i64(10), want: 5},
		{name: "fewer offers than peers", others: 5, offers: 3, numwant: i64(10), want: 3},
		{name: "numwant caps", others: 5, offers: 5, numwant: i64(2), want: 2},
		{name: "numwant 0", others: 5, offers: 5, numwant: i64(0), want: 0},
		{name: "no numwant relays all offers", others: 5, offers: 4, want: 4},
		{name: "MaxOffers caps", maxOffers: 2, others: 5, offers: 5, numwant: i64(5), want: 2},
		{name: "alone", others: 0, offers: 5, numwant: i64(5), want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newServerHarness(t, func(c *Config) { c.MaxOffers = tc.maxOffers })
			ih := fmt.Sprintf("%-20s", "fanout")
			others := make([]*rawClient, tc.others)
			for i := range others {
				others[i] = h.dial(nil)
				others[i].send(announceMsg(ih, fmt.Sprintf("-PM0203-other%07d", i), "started", 5))
				others[i].next()
			}
			sender := h.dial(nil)
			offers := make([]wire.TrackerOffer, tc.offers)
			for i := range offers {
				offers[i] = testOffer(fmt.Sprintf("offer-%d", i), fmt.Sprintf("sdp-%d", i))
			}
			m := announceMsg(ih, "-PM0203-sender000000", "started", 0, offers...)
			m.NumWant = tc.numwant
			sender.send(m)
			sender.next()
			require.Eventually(t, func() bool {
				return testutil.ToFloat64(h.m.messages.WithLabelValues("out", "offer")) == float64(tc.want)
			}, waitFor, time.Millisecond)
			got := map[string]bool{} // offer ids received, each by a distinct peer
			received := 0
			for _, o := range others {
				select {
				case b := <-o.frames:
					om, err := wire.DecodeTrackerMessage(b)
					require.NoError(t, err)
					require.NotNil(t, om.Offer)
					require.False(t, got[om.OfferID], "offer %s sent twice", om.OfferID)
					got[om.OfferID] = true
					received++
				case <-time.After(20 * time.Millisecond):
				}
			}
			require.Equal(t, tc.want, received)
			for _, o := range others {
				o.none(10 * time.Millisecond) // at most one offer per peer
			}
			require.Equal(t, float64(tc.want), testutil.ToFloat64(h.m.relayed.WithLabelValues("offer")))
		})
	}
}

func TestServerExpiry(t *testing.T) {
	clock := newFakeClock()
	h := newServerHarness(t, func(c *Config) {
		c.Interval = time.Second
		c.Now = clock.Now
		c.sweepEvery = 5 * time.Millisecond
	})
	ih, pa := ids("expiry")
	_, pb := ids("expiry-b")
	a := h.dial(nil)
	a.send(announceMsg(ih, pa, "started", 5))
	a.next()
	clock.Advance(1500 * time.Millisecond)
	a.send(announceMsg(ih, pb, "started", 5))
	a.next()
	clock.Advance(600 * time.Millisecond) // pa: 2.1 s since its announce > 2 × Interval; pb: 0.6 s
	require.Eventually(t, func() bool { return h.srv.Stats().Peers == 1 }, waitFor, time.Millisecond)
	require.Equal(t, Stats{Connections: 1, Peers: 1, PeerIDs: 1, Swarms: 1}, h.srv.Stats())
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.expired))
	// Re-announcing keeps pb; missing two announces removes it and the swarm.
	clock.Advance(1500 * time.Millisecond)
	a.send(announceMsg(ih, pb, "", 5))
	a.next()
	clock.Advance(1500 * time.Millisecond)
	time.Sleep(30 * time.Millisecond) // several sweeps
	require.Equal(t, 1, h.srv.Stats().Peers)
	clock.Advance(time.Second)
	require.Eventually(t, func() bool { return h.srv.Stats() == Stats{Connections: 1} }, waitFor, time.Millisecond)
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.expired))
	require.Equal(t, 0.0, testutil.ToFloat64(h.m.peers))
	require.Equal(t, 0.0, testutil.ToFloat64(h.m.swarms))
}

func TestServerLimits(t *testing.T) {
	t.Run("connections", func(t *testing.T) {
		h := newServerHarness(t, func(c *Config) { c.MaxPeers = 2 })
		h.dial(nil)
		b := h.dial(nil)
		_, err := h.tryDial(nil, false)
		require.ErrorContains(t, err, "http 503")
		require.Equal(t, 1.0, testutil.ToFloat64(h.m.rejected.WithLabelValues(rejectLimit)))
		require.Equal(t, 2.0, testutil.ToFloat64(h.m.connectionsLimit))
		b.close()
		require.Eventually(t, func() bool {
			c, err := h.tryDial(nil, false)
			if err == nil {
				c.close()
			}
			return err == nil
		}, waitFor, 10*time.Millisecond)
	})
	t.Run("swarms", func(t *testing.T) {
		h := newServerHarness(t, func(c *Config) { c.MaxSwarms = 1 })
		a := h.dial(nil)
		a.send(announceMsg(fmt.Sprintf("%-20s", "s1"), fmt.Sprintf("%-20s", "p1"), "started", 5))
		a.next()
		ih2 := fmt.Sprintf("%-20s", "s2")
		a.send(announceMsg(ih2, fmt.Sprintf("%-20s", "p2"), "started", 5))
		m, raw := a.next()
		require.Equal(t, `{"action":"announce","failure reason":"too many swarms","info_hash":"`+ih2+`"}`, string(raw))
		require.Equal(t, failTooManySwarms, m.FailureReason)
		require.Equal(t, 1.0, h.dropped(dropSwarmLimit))
	})
	t.Run("peers per swarm", func(t *testing.T) {
		h := newServerHarness(t, func(c *Config) { c.MaxPeersPerSwarm = 1 })
		a, b := h.dial(nil), h.dial(nil)
		ih := fmt.Sprintf("%-20s", "s1")
		a.send(announceMsg(ih, fmt.Sprintf("%-20s", "p1"), "started", 5))
		a.next()
		b.send(announceMsg(ih, fmt.Sprintf("%-20s", "p2"), "started", 5))
		m, _ := b.next()
		require.Equal(t, failSwarmFull, m.FailureReason)
		a.send(announceMsg(ih, fmt.Sprintf("%-20s", "p1"), "", 5)) // members re-announce fine
		m, _ = a.next()
		require.Empty(t, m.FailureReason)
		require.Equal(t, 1.0, h.dropped(dropSwarmFull))
	})
	t.Run("swarms per connection", func(t *testing.T) {
		h := newServerHarness(t, func(c *Config) { c.MaxSwarmsPerConn = 2 })
		a := h.dial(nil)
		for i := range 3 {
			a.send(announceMsg(fmt.Sprintf("%-20d", i), fmt.Sprintf("%-20d", i), "started", 5))
		}
		for i := range 3 {
			m, _ := a.next()
			require.Equal(t, i == 2, m.FailureReason == failConnLimit, "announce %d: %+v", i, m)
		}
		require.Equal(t, 2, h.srv.Stats().Peers)
	})
	t.Run("trusted connection", func(t *testing.T) {
		clock := newFakeClock() // frozen: no rate-limit refill
		h := newServerHarness(t, func(c *Config) {
			c.MaxSwarmsPerConn, c.MaxMessageRate, c.Now = 2, 1, clock.Now
			c.TrustedToken = "seed-secret"
			c.AllowedOrigins = []string{"https://pages.example.com"}
		})
		_, err := h.tryDial(http.Header{TrustedTokenHeader: {"wrong"}}, false)
		require.Error(t, err, "a wrong token is an ordinary client, without the allowed origin")
		seed := h.dial(http.Header{TrustedTokenHeader: {"seed-secret"}})
		for i := range 30 { // beyond the swarm and burst limits of a browser
			seed.send(announceMsg(fmt.Sprintf("%-20d", i), fmt.Sprintf("s%-19d", i), "started", 5))
		}
		for i := range 30 {
			m, _ := seed.next()
			require.Empty(t, m.FailureReason, "announce %d", i)
		}
		require.Equal(t, 30, h.srv.Stats().Peers)
		require.Zero(t, h.dropped(dropRateLimited))
	})
	t.Run("message rate", func(t *testing.T) {
		clock := newFakeClock() // frozen: no refill
		h := newServerHarness(t, func(c *Config) {
			c.MaxMessageRate = 1 // burst 10
			c.Now = clock.Now
		})
		a := h.dial(nil)
		ih, pid := ids("rate")
		for range 12 {
			a.send(announceMsg(ih, pid, "", 5))
		}
		for range 10 {
			a.next()
		}
		a.none(50 * time.Millisecond)
		require.Equal(t, 2.0, h.dropped(dropRateLimited))
		clock.Advance(time.Second) // one token
		a.send(announceMsg(ih, pid, "", 5))
		a.next()

		// The rate scales with memberships: a connection in 3 swarms gets
		// 3 tokens a second, up to 30.
		b := h.dial(nil)
		for i := range 3 {
			b.send(announceMsg(fmt.Sprintf("%-20d", i), pid[:19]+string(rune('a'+i)), "started", 5))
		}
		for range 3 {
			b.next()
		}
		clock.Advance(10 * time.Second)
		for range 31 {
			b.send(announceMsg(fmt.Sprintf("%-20d", 0), pid[:19]+"a", "", 5))
		}
		for range 30 {
			b.next()
		}
		b.none(50 * time.Millisecond)
		require.Equal(t, 3.0, h.dropped(dropRateLimited))
	})
}

func TestServerOrigins(t *testing.T) {
	allowed := []string{"https://example.com", "*.example.org", "http://127.0.0.1:8080/"}
	for origin, want := range map[string]bool{
		"https://example.com":       true,
		"HTTPS://EXAMPLE.COM":       true,
		"http://example.com":        false,
		"https://example.com:444":   false,
		"https://a.example.org":     true,
		"http://b.a.example.org:81": true,
		"https://example.org":       false,
		"https://badexample.org":    false,
		"http://127.0.0.1:8080":     true,
		"null":                      false,
		"":                          false,
	} {
		require.Equal(t, want, originAllowed(allowed, origin), origin)
	}
	require.True(t, originAllowed(nil, ""))
	require.True(t, originAllowed([]string{"*"}, "https://any.example"))

	for _, bad := range []string{"example.com", "*.", "*.a/b", "https://example.com/path", "ftp://"} {
		_, err := New(Config{AllowedOrigins: []string{bad}})
		require.ErrorIs(t, err, ErrInvalidConfig, bad)
	}

	h := newServerHarness(t, func(c *Config) { c.AllowedOrigins = allowed })
	h.dial(http.Header{"Origin": {"https://www.example.org"}})
	_, err := h.tryDial(http.Header{"Origin": {"https://evil.example"}}, false)
	require.ErrorContains(t, err, "http 403")
	_, err = h.tryDial(nil, false)
	require.ErrorContains(t, err, "http 403")
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.rejected.WithLabelValues(rejectOrigin)))
}

func TestServerOversizedFrames(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.MaxMessageBytes = 1024 })
	t.Run("wire size", func(t *testing.T) {
		a := h.dial(nil)
		a.sendRaw(bytes.Repeat([]byte(" "), 2000))
		var ce *websocket.CloseError
		require.ErrorAs(t, a.closed(), &ce)
		require.Equal(t, websocket.CloseMessageTooBig, ce.Code)
	})
	t.Run("inflated size", func(t *testing.T) {
		a, err := h.tryDial(nil, true)
		require.NoError(t, err)
		// 20 KB of spaces deflate to far less than 1 KiB on the wire.
		ih, pid := ids("big")
		m := announceMsg(ih, pid, "started", 5)
		b := m.AppendJSON(nil)
		b = append(b[:len(b)-1], []byte(`,"pad":"`+strings.Repeat(" ", 20000)+`"}`)...)
		a.ws.EnableWriteCompression(true)
		a.sendRaw(b)
		var ce *websocket.CloseError
		require.ErrorAs(t, a.closed(), &ce)
		require.Equal(t, websocket.CloseMessageTooBig, ce.Code)
	})
	t.Run("compressed within the limit", func(t *testing.T) {
		a, err := h.tryDial(nil, true)
		require.NoError(t, err)
		a.ws.EnableWriteCompression(true)
		ih, pid := ids("small")
		a.send(announceMsg(ih, pid, "started", 5))
		_, raw := a.next()
		require.Equal(t, responseJSON(60, ih, 0, 1), string(raw))
	})
	require.Eventually(t, func() bool { return h.srv.Stats().Connections == 1 }, waitFor, time.Millisecond)
	require.Equal(t, 2.0, h.dropped(dropOversized))
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.closed.WithLabelValues(closeOversized)))
}

func TestServerGarbage(t *testing.T) {
	h := newServerHarness(t, nil)
	ih, pid := ids("garbage")
	tests := []struct {
		name, in, reply string
	}{
		{"not json", `hello`, `{"failure reason":"malformed message"}`},
		{"not an object", `[1,2]`, `{"failure reason":"malformed message"}`},
		{"wrong type", `{"action":"announce","info_hash":5}`, `{"failure reason":"malformed message"}`},
		{"code point above U+00FF in an id", `{"action":"announce","info_hash":"ĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀ","peer_id":"x"}`, `{"failure reason":"malformed message"}`},
		{"lone surrogate in an SDP", `{"action":"announce","info_hash":"` + ih + `","peer_id":"` + pid + `","offers":[{"offer":{"sdp":"\ud800"},"offer_id":"x"}]}`, `{"failure reason":"malformed message"}`},
		{"unknown action", `{"action":"dance"}`, `{"failure reason":"invalid action"}`},
		{"unknown event", `{"action":"announce","event":"dance","info_hash":"` + ih + `","peer_id":"` + pid + `"}`,
			`{"action":"announce","failure reason":"invalid event","info_hash":"` + ih + `"}`},
		{"short info_hash", `{"action":"announce","info_hash":"short","peer_id":"` + pid + `"}`,
			`{"action":"announce","failure reason":"invalid info_hash"}`},
		{"long peer_id", `{"action":"announce","info_hash":"` + ih + `","peer_id":"` + pid + `x"}`,
			`{"action":"announce","failure reason":"invalid peer_id","info_hash":"` + ih + `"}`},
		{"answer without to_peer_id", `{"action":"announce","info_hash":"` + ih + `","peer_id":"` + pid + `","answer":{"type":"answer","sdp":"x"},"offer_id":"o"}`,
			`{"action":"announce","failure reason":"invalid ` + "`to_peer_id`" + ` (required with ` + "`answer`" + `)","info_hash":"` + ih + `"}`},
		{"answer without sdp", `{"action":"announce","info_hash":"` + ih + `","peer_id":"` + pid + `","to_peer_id":"` + pid + `","answer":{"type":"answer"},"offer_id":"o"}`,
			`{"action":"announce","failure reason":"invalid answer","info_hash":"` + ih + `"}`},
		{"scrape everything", `{"action":"scrape"}`, `{"action":"scrape","failure reason":"scrape needs info_hash"}`},
	}
	a := h.dial(nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.sendRaw([]byte(tc.in))
			_, raw := a.next()
			require.Equal(t, tc.reply, string(raw))
		})
	}
	// The socket survived all of it and still works, binary frames too.
	require.NoError(t, a.ws.WriteMessage(websocket.BinaryMessage, announceMsg(ih, pid, "started", 5).AppendJSON(nil)))
	_, raw := a.next()
	require.Equal(t, responseJSON(60, ih, 0, 1), string(raw))

	// An answer to an unknown peer is dropped without closing the socket
	// (wt-tracker would close it).
	_, gone := ids("gone")
	a.send(answerMsg(ih, pid, gone, "offer-1", "sdp"))
	a.none(50 * time.Millisecond)
	require.Equal(t, 1.0, h.dropped(dropUnknownPeer))
	a.send(announceMsg(ih, pid, "", 5))
	a.next()

	// Offers without an id or SDP are left out, the rest relayed.
	b := h.dial(nil)
	_, pb := ids("garbage-b")
	b.send(announceMsg(ih, pb, "started", 5, testOffer("", "sdp"), testOffer("o2", ""), testOffer("o3", "sdp-3")))
	b.next()
	m, _ := a.next()
	require.Equal(t, "o3", m.OfferID)
	require.Equal(t, 6.0, h.dropped(dropInvalid)) // 4 bad messages above, 2 bad offers
	require.Equal(t, 3.0, h.dropped(dropUnsupported))
	require.Equal(t, 5.0, testutil.ToFloat64(h.m.messages.WithLabelValues("in", "malformed")))

	// Scrape of known and unknown swarms.
	_, unknown := ids("unknown")
	a.sendRaw([]byte(`{"action":"scrape","info_hash":["` + ih + `","` + unknown + `"]}`))
	_, raw = a.next()
	require.Equal(t, `{"action":"scrape","files":{"`+ih+`":{"complete":0,"incomplete":2,"downloaded":0},"`+unknown+
		`":{"complete":0,"incomplete":0,"downloaded":0}}}`, string(raw))

	// 16 invalid messages in a row close the socket with 1008.
	for range maxStrikes {
		a.sendRaw([]byte(`nonsense`))
	}
	var ce *websocket.CloseError
	require.ErrorAs(t, a.closed(), &ce)
	require.Equal(t, websocket.ClosePolicyViolation, ce.Code)
	require.Eventually(t, func() bool { return h.srv.Stats().Connections == 1 }, waitFor, time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.closed.WithLabelValues(closeAbuse)))
	// Others are unaffected.
	b.send(announceMsg(ih, pb, "", 5))
	_, raw = b.next()
	require.Equal(t, responseJSON(60, ih, 0, 1), string(raw))
}

func TestServerShutdown(t *testing.T) {
	h := newServerHarness(t, nil)
	a := h.dial(nil)
	ih, pid := ids("bye")
	a.send(announceMsg(ih, pid, "started", 5))
	a.next()
	h.stop()
	var ce *websocket.CloseError
	require.ErrorAs(t, a.closed(), &ce)
	require.Equal(t, websocket.CloseGoingAway, ce.Code)
	_, err := h.tryDial(nil, false)
	require.ErrorContains(t, err, "http 503")
	require.Equal(t, Stats{}, h.srv.Stats())
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.closed.WithLabelValues(closeShutdown)))
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.rejected.WithLabelValues(rejectShutdown)))
	require.ErrorIs(t, h.srv.Run(context.Background()), ErrRunning)
}

func TestServerIdleTimeout(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.IdleTimeout = 100 * time.Millisecond })
	a := h.dial(nil)
	ih, pid := ids("idle")
	a.send(announceMsg(ih, pid, "started", 5))
	a.next()
	a.closed()
	require.Eventually(t, func() bool { return h.srv.Stats() == Stats{} }, waitFor, time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.closed.WithLabelValues(closeIdle)))
}

func TestServerStatsPage(t *testing.T) {
	h := newServerHarness(t, nil)
	a := h.dial(nil)
	ih, pid := ids("stats")
	a.send(announceMsg(ih, pid, "started", 5))
	a.next()
	get := func(path string) (string, string) {
		resp, err := http.Get(h.ts.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.Header.Get("Content-Type"), string(b)
	}
	ct, body := get("/")
	require.Equal(t, "text/plain; charset=utf-8", ct)
	require.Equal(t, "superpeer WebTorrent tracker\nconnections 1\npeers 1\npeer_ids 1\nswarms 1\n", body)
	ct, body = get("/stats.json")
	require.Equal(t, "application/json", ct)
	var st Stats
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, Stats{Connections: 1, Peers: 1, PeerIDs: 1, Swarms: 1}, st)
	resp, err := http.Post(h.ts.URL, "text/plain", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestServerSendQueueHeadDrop(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.SendQueue = 2 })
	c := &sconn{s: h.srv, writing: true} // as if a writer were busy: nothing drains the queue
	for i := range 3 {
		bp := h.srv.getBuf()
		*bp = append(*bp, byte('a'+i))
		c.enqueue(bp, skOther)
	}
	require.Len(t, c.q, 2)
	require.Equal(t, "bc", string((*c.q[0].bp)[frameHeadroom:])+string((*c.q[1].bp)[frameHeadroom:])) // the oldest went
	require.Equal(t, 1.0, h.dropped(dropQueueFull))
	c.closeQueue()
	c.enqueue(h.srv.getBuf(), skOther) // no-op once closed
	require.Empty(t, c.q)
}

func TestServerConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"interval":      {Interval: time.Millisecond},
		"max offers":    {MaxOffers: -1},
		"message bytes": {MaxMessageBytes: 10},
		"send queue":    {SendQueue: -2},
	} {
		_, err := New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, name)
	}
}

func TestServerMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	c := m.counters()
	for k := range numServerKinds {
		c.in[k].Inc()
		c.out[k].Inc()
	}
	for _, d := range c.drop {
		d.Inc()
	}
	c.relayedOffer.Inc()
	c.rejected.WithLabelValues(rejectLimit).Inc()
	c.closed.WithLabelValues(closeClient).Inc()
	c.expired.Inc()
	for _, col := range []prometheus.Collector{m.connections, m.connectionsLimit, m.peers, m.peersPerSwarmLimit, m.swarms,
		m.swarmsLimit, m.messages, m.relayed, m.dropped, m.rejected, m.closed, m.expired, m.conflicts,
		m.connectionsPerIPLimit, m.connectionsPerPrefixLimit, m.httpConns} {
		problems, err := testutil.CollectAndLint(col)
		require.NoError(t, err)
		require.Empty(t, problems)
	}
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		require.True(t, strings.HasPrefix(mf.GetName(), "superpeer_tracker_server_"), mf.GetName())
	}
	require.Len(t, mfs, 16)
}

// FuzzServerHandle feeds arbitrary frames to the message handler of a
// connection that is in a swarm with another: nothing may panic, and the
// state stays consistent.
func FuzzServerHandle(f *testing.F) {
	ih, pa := ids("fuzz")
	_, pb := ids("fuzz-b")
	for _, seed := range []string{
		string(announceMsg(ih, pa, "started", 5, testOffer("o", "sdp")).AppendJSON(nil)),
		string(answerMsg(ih, pa, pb, "o", "sdp").AppendJSON(nil)),
		`{"action":"announce","event":"stopped","info_hash":"` + ih + `","peer_id":"` + pb + `"}`,
		`{"action":"scrape","info_hash":["` + ih + `"]}`,
		`{"action":"announce","numwant":1e400}`,
		`{"action":"announce","numwant":-5,"info_hash":"` + ih + `","peer_id":"` + pa + `","offers":[{"offer":null}]}`,
		`garbage`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := New(Config{Logger: zerolog.Nop(), MaxMessageRate: -1})
		require.NoError(t, err)
		a := &sconn{s: s, writing: true} // no socket: keep the writer from starting
		other := &sconn{s: s, writing: true}
		s.conns[a], s.conns[other] = struct{}{}, struct{}{}
		var m wire.RawTrackerMessage
		s.handle(other, announceMsg(ih, pb, "started", 5).AppendJSON(nil), &m, 1)
		s.handle(a, b, &m, 2)
		s.handle(a, b, &m, 3)
		s.expire(time.Unix(0, 4))
		st := s.Stats()
		members := 0
		for _, sw := range s.swarms {
			require.NotEmpty(t, sw.members)
			for i, p := range sw.members {
				require.Equal(t, int32(i), p.find(sw).idx)
			}
			members += len(sw.members)
		}
		require.Equal(t, st.Peers, members)
		s.dropConn(a)
		s.dropConn(other)
		require.Equal(t, Stats{}, s.Stats())
	})
}

// TestServerConcurrentClients hammers one swarm from many sockets to let the
// race detector see the locking.
func TestServerConcurrentClients(t *testing.T) {
	h := newServerHarness(t, func(c *Config) { c.MaxMessageRate = -1 })
	ih := fmt.Sprintf("%-20s", "race")
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		c := h.dial(nil)
		pid := fmt.Sprintf("-PM0203-race%08d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				m := announceMsg(ih, pid, "", 3, testOffer(fmt.Sprintf("o-%d-%d", i, j), "sdp"))
				if err := c.ws.WriteMessage(websocket.TextMessage, m.AppendJSON(nil)); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(h.m.messages.WithLabelValues("in", "announce")) == n*20
	}, waitFor, time.Millisecond)
	require.Equal(t, Stats{Connections: n, Peers: n, PeerIDs: n, Swarms: 1}, h.srv.Stats())
}

func TestTextFrame(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 1300, 65535, 65536, 70000}
	// Frames written raw by a gorilla-upgraded server, in one writev, are read
	// back by a gorilla client: the reference parser.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		var iov net.Buffers
		for _, n := range sizes {
			b := make([]byte, frameHeadroom+n)
			for i := range n {
				b[frameHeadroom+i] = byte('a' + (i+n)%26)
			}
			iov = append(iov, textFrame(b))
		}
		_, _ = iov.WriteTo(ws.NetConn())
		_, _, _ = ws.ReadMessage() // until the client closes
	}))
	defer ts.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	require.NoError(t, err)
	defer ws.Close()
	for _, n := range sizes {
		typ, got, err := ws.ReadMessage()
		require.NoError(t, err, "payload %d", n)
		require.Equal(t, websocket.TextMessage, typ)
		require.Len(t, got, n)
		for i := range got {
			if got[i] != byte('a'+(i+n)%26) {
				t.Fatalf("payload %d: byte %d is %q", n, i, got[i])
			}
		}
	}
}
