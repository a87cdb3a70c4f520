package tracker

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/superpeer/superpeer/pkg/tracker/trackertest"
	"github.com/superpeer/superpeer/pkg/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 5 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeSwarm is a Handler that records what it gets and hands out numbered
// offers.
type fakeSwarm struct {
	name     string
	offerSDP func(i int) string
	block    bool // Offers blocks until ctx ends

	next      atomic.Int64
	offers    chan Offer
	answers   chan Answer
	responses chan AnnounceResponse
	asked     chan int
}

func newFakeSwarm(name string) *fakeSwarm {
	return &fakeSwarm{
		name:      name,
		offers:    make(chan Offer, 100),
		answers:   make(chan Answer, 100),
		responses: make(chan AnnounceResponse, 100),
		asked:     make(chan int, 100),
	}
}

func (f *fakeSwarm) Offers(ctx context.Context, n int) []LocalOffer {
	f.asked <- n
	if f.block {
		<-ctx.Done()
		return nil
	}
	out := make([]LocalOffer, 0, 2)
	for range 2 {
		i := int(f.next.Add(1))
		sdp := fmt.Sprintf("v=0\r\no=- %d 2 IN IP4 127.0.0.1\r\ns=%s\r\n", i, f.name)
		if f.offerSDP != nil {
			sdp = f.offerSDP(i)
		}
		out = append(out, LocalOffer{ID: offerIDFor(f.name, i), SDP: sdp})
	}
	return out
}

func (f *fakeSwarm) HandleOffer(o Offer)                       { f.offers <- o }
func (f *fakeSwarm) HandleAnswer(a Answer)                     { f.answers <- a }
func (f *fakeSwarm) HandleAnnounceResponse(r AnnounceResponse) { f.responses <- r }

// offerIDFor returns the 20-byte offer id fakeSwarm gives its i-th offer.
func offerIDFor(name string, i int) string {
	return fmt.Sprintf("%-20.20s", fmt.Sprintf("offer-%s-%d", name, i))
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

// ids returns a 20-byte info hash and peer id.
func ids(name string) (infoHash, peerID string) {
	return fmt.Sprintf("%-20s", "ih-"+name), fmt.Sprintf("%-20s", "-PM0203-"+name)
}

type harness struct {
	t      *testing.T
	srv    *trackertest.Server
	client *Client
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, opts trackertest.Options, tune func(*Config)) *harness {
	t.Helper()
	srv := trackertest.NewServer(t, opts)
	reg := prometheus.NewRegistry()
	cfg := Config{
		URL:             srv.URL,
		Logger:          zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Metrics:         NewMetrics(reg),
		PingInterval:    time.Second,
		DefaultInterval: time.Hour,
		MinInterval:     time.Millisecond,
		BackoffMin:      5 * time.Millisecond,
		BackoffMax:      20 * time.Millisecond,
		intervalUnit:    time.Millisecond,
	}
	if tune != nil {
		tune(&cfg)
	}
	c, err := NewClient(cfg)
	require.NoError(t, err)
	return &harness{t: t, srv: srv, client: c, reg: reg}
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.client.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop cancels Run and requires it to return nil within the stop budget.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		require.NoError(h.t, err)
	case <-time.After(stopTimeout + time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
}

func (h *harness) join(name string) (*fakeSwarm, string, string, func()) {
	h.t.Helper()
	ih, pid := ids(name)
	f := newFakeSwarm(name)
	leave, err := h.client.Join(ih, pid, f)
	require.NoError(h.t, err)
	return f, ih, pid, leave
}

func (h *harness) accept() *trackertest.Conn {
	h.t.Helper()
	c, err := h.srv.Accept(testCtx(h.t))
	require.NoError(h.t, err)
	return c
}

func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	m := h.client.cfg.Metrics
	switch name {
	case "dropped":
		return testutil.ToFloat64(m.dropped.WithLabelValues(append([]string{h.client.url}, labels...)...))
	case "messages":
		return testutil.ToFloat64(m.messages.WithLabelValues(append([]string{h.client.url}, labels...)...))
	case "connects":
		return testutil.ToFloat64(m.connects.WithLabelValues(append([]string{h.client.url}, labels...)...))
	}
	h.t.Fatalf("no counter %s", name)
	return 0
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, waitFor, 5*time.Millisecond)
}

// announceJSON is the announce a browser would send (tracker-23.json shape)
// for the fake swarm's offers first..first+n-1.
func announceJSON(event, ih, pid string, f *fakeSwarm, first, n int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"numwant":%d,"uploaded":0,"downloaded":0,`, n)
	if event != "" {
		fmt.Fprintf(&sb, `"event":%q,`, event)
	}
	fmt.Fprintf(&sb, `"action":"announce","info_hash":%q,"peer_id":%q`, ih, pid)
	sb.WriteString(`,"offers":[`) // [] without offers, as browsers send with numwant 0
	for i := first; i < first+n; i++ {
		if i > first {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"offer":{"type":"offer","sdp":"v=0\r\no=- %d 2 IN IP4 127.0.0.1\r\ns=%s\r\n"},"offer_id":%q}`,
			i, f.name, offerIDFor(f.name, i))
	}
	sb.WriteString("]")
	sb.WriteString("}")
	return sb.String()
}

func TestNewClientValidates(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"ws://127.0.0.1:8000", true},
		{"wss://tracker.example.com/announce", true},
		{"http://tracker.example.com", false},
		{"wss://", false},
		{"::", false},
		{"", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, err := NewClient(Config{URL: tc.url})
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrInvalidConfig)
			}
		})
	}
}

func TestJoinValidates(t *testing.T) {
	c, err := NewClient(Config{URL: "ws://127.0.0.1:1"})
	require.NoError(t, err)
	ih, pid := ids("a")
	_, err = c.Join("short", pid, newFakeSwarm("a"))
	require.ErrorIs(t, err, ErrInvalidID)
	_, err = c.Join(ih, "short", newFakeSwarm("a"))
	require.ErrorIs(t, err, ErrInvalidID)
	leave, err := c.Join(ih, pid, newFakeSwarm("a"))
	require.NoError(t, err)
	_, err = c.Join(ih, pid, newFakeSwarm("a"))
	require.ErrorIs(t, err, ErrAlreadyJoined)
	leave()
	leave() // idempotent
	_, err = c.Join(ih, pid, newFakeSwarm("a"))
	require.NoError(t, err)
	require.ErrorIs(t, c.Answer(Offer{InfoHash: "nope"}, "x"), ErrNotJoined)
}

func TestFirstAnnounceAndHeaders(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, func(c *Config) {
		c.Origin = "https://player.example.com"
		c.Header = http.Header{"X-Test": {"1"}}
		c.OffersPerAnnounce = 1
	})
	f, ih, pid, _ := h.join("a")
	h.start()
	conn := h.accept()
	require.Equal(t, "https://player.example.com", conn.Header.Get("Origin"))
	require.Equal(t, "1", conn.Header.Get("X-Test"))
	require.Contains(t, conn.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")

	require.Equal(t, 1, recv(t, f.asked))
	b, err := conn.Next(testCtx(t))
	require.NoError(t, err)
	// OffersPerAnnounce caps what the Handler returns (2) to 1.
	require.Equal(t, announceJSON("started", ih, pid, f, 1, 1), string(b))
	eventually(t, func() bool { return h.counter("messages", dirOut, kindAnnounce) == 1 })
	require.Equal(t, 1.0, testutil.ToFloat64(h.client.cfg.Metrics.connected.WithLabelValues(h.client.url)))
}

func TestReannounceAtTrackerInterval(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, nil)
	f, ih, pid, _ := h.join("a")
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	m, _, err := conn.NextMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, "started", m.Event)
	require.Equal(t, 10, recv(t, f.asked))

	// DefaultInterval is an hour: nothing more until the tracker sets one.
	noRecv(t, f.asked, 100*time.Millisecond)
	interval, complete, incomplete := int64(50), int64(1), int64(3)
	sent := time.Now()
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", Interval: &interval, InfoHash: ih,
		Complete: &complete, Incomplete: &incomplete}))
	r := recv(t, f.responses)
	require.Equal(t, AnnounceResponse{InfoHash: ih, Tracker: h.client.url, Interval: 50 * time.Millisecond,
		Complete: 1, Incomplete: 3}, r)

	b, err := conn.Next(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(sent), 50*time.Millisecond)
	require.Equal(t, announceJSON("", ih, pid, f, 3, 2), string(b), "periodic announces carry no event and fresh offers")
	_, err = conn.Next(ctx) // and again, still without a new response
	require.NoError(t, err)

	// "min interval" is used when "interval" is absent or 0; the floor applies.
	zero, minIv := int64(0), int64(1)
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", Interval: &zero, MinInterval: &minIv,
		InfoHash: ih}))
	r = recv(t, f.responses)
	require.Equal(t, h.client.cfg.MinInterval, r.Interval)
	require.Equal(t, int64(-1), r.Complete)
}

// TestAnnounceSoon: AnnounceSoon brings the next announce forward to
// MinInterval after the last (or the tracker's "min interval", if longer),
// not sooner; requests before it count as one; the interval then resumes.
func TestAnnounceSoon(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, func(c *Config) { c.MinInterval = 200 * time.Millisecond })
	f, ih, _, _ := h.join("a")
	h.client.AnnounceSoon(ih) // not connected yet: nothing to bring forward
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	m, _, err := conn.NextMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, "started", m.Event)
	first := time.Now()
	interval := int64(60_000) // a minute in the harness's millisecond unit
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", Interval: &interval, InfoHash: ih}))
	recv(t, f.responses)

	h.client.AnnounceSoon(ih)
	h.client.AnnounceSoon(ih)
	h.client.AnnounceSoon("unknown swarm       ")
	m, _, err = conn.NextMessage(ctx)
	require.NoError(t, err)
	second := time.Now()
	require.Equal(t, "announce", m.Action)
	require.Empty(t, m.Event)
	// The client starts its wait a little before the test sees the message.
	const slack = 50 * time.Millisecond
	require.GreaterOrEqual(t, second.Sub(first), 200*time.Millisecond-slack, "no sooner than MinInterval after the last")
	require.Less(t, second.Sub(first), 5*time.Second, "well before the minute's interval")
	recv(t, f.asked)
	recv(t, f.asked)

	// The two requests counted as one: the interval (a minute) is back.
	readNext := make(chan error, 1)
	go func() {
		_, err := conn.Next(ctx)
		readNext <- err
	}()
	select {
	case err := <-readNext:
		t.Fatalf("a third announce (%v) within 600 ms", err)
	case <-time.After(600 * time.Millisecond):
	}

	// A tracker's "min interval" longer than MinInterval is respected.
	minIv := int64(700)
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", Interval: &interval, MinInterval: &minIv,
		InfoHash: ih}))
	recv(t, f.responses)
	h.client.AnnounceSoon(ih)
	select {
	case err := <-readNext:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("no announce after AnnounceSoon")
	}
	require.GreaterOrEqual(t, time.Since(second), 700*time.Millisecond-slack, "the tracker's min interval after the last")
}

func TestOfferRoutingAndAnswer(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, nil)
	fa, iha, pida, _ := h.join("a")
	fb, ihb, _, _ := h.join("b")
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	for range 2 { // both started announces
		_, _, err := conn.NextMessage(ctx)
		require.NoError(t, err)
	}
	remote := "-PM0203-remotepeer01"
	offerID := "\x00\xff\x10\x7f\x80\xc3\xe9A\\\"\xaa\xbb\xcc\xdd\xee\xff\x01\x02\x03\x04"
	send := func(ih, from string) {
		require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", InfoHash: ih, OfferID: offerID,
			PeerID: from, Offer: &wire.TrackerSDP{Type: "offer", SDP: "remote-sdp-" + ih[3:4]}}))
	}
	send(ihb, remote)
	send(iha, remote)
	send(iha, pida) // our own offer echoed back: ignored
	unknown, _ := ids("zz")
	send(unknown, remote)

	ob := recv(t, fb.offers)
	require.Equal(t, "remote-sdp-b", ob.SDP)
	oa := recv(t, fa.offers)
	require.Equal(t, iha, oa.InfoHash)
	require.Equal(t, remote, oa.PeerID)
	require.Equal(t, offerID, oa.OfferID)
	require.Equal(t, h.client.url, oa.Tracker)
	require.False(t, oa.Received().IsZero())
	eventually(t, func() bool {
		return h.counter("dropped", dropOwnPeer) == 1 && h.counter("dropped", dropUnknownSwarm) == 1
	})
	noRecv(t, fa.offers, 20*time.Millisecond)

	require.NoError(t, h.client.Answer(oa, "v=0\r\nanswer\r\n"))
	b, err := conn.Next(ctx)
	require.NoError(t, err)
	// The browser's answer shape (tracker-23.json), byte for byte.
	want := `{"action":"announce","info_hash":"` + iha + `","peer_id":"` + pida + `","to_peer_id":"` + remote +
		`","answer":{"type":"answer","sdp":"v=0\r\nanswer\r\n"},"offer_id":"\u0000ÿ\u0010` + "\x7f\u0080" + `ÃéA\\\"ª»ÌÝîÿ\u0001\u0002\u0003\u0004"}`
	require.Equal(t, want, string(b))

	// A relayed answer to one of our offers (wt-tracker strips to_peer_id).
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", InfoHash: iha, PeerID: remote,
		Answer: &wire.TrackerSDP{Type: "answer", SDP: "their-answer"}, OfferID: offerIDFor("a", 1)}))
	a := recv(t, fa.answers)
	require.Equal(t, Answer{InfoHash: iha, PeerID: remote, OfferID: offerIDFor("a", 1), SDP: "their-answer",
		Tracker: h.client.url}, a)
	noRecv(t, fb.answers, 20*time.Millisecond)
}

func TestLateAnswers(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Unix(1000, 0)
	now.Store(&t0)
	h := newHarness(t, trackertest.Options{}, func(c *Config) {
		c.Now = func() time.Time { return *now.Load() }
		c.AnswerTimeout = 20 * time.Second
	})
	f, ih, _, _ := h.join("a")
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	_, _, err := conn.NextMessage(ctx)
	require.NoError(t, err)
	offer := func() Offer {
		require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", InfoHash: ih, OfferID: NewOfferID(),
			PeerID: "-PM0203-remotepeer01", Offer: &wire.TrackerSDP{Type: "offer", SDP: "x"}}))
		return recv(t, f.offers)
	}

	// Older than AnswerTimeout.
	o := offer()
	t1 := t0.Add(21 * time.Second)
	now.Store(&t1)
	require.ErrorIs(t, h.client.Answer(o, "late"), ErrLateAnswer)

	// Within AnswerTimeout, but the connection it came on is gone.
	o = offer()
	conn.Close()
	conn2 := h.accept()
	m, _, err := conn2.NextMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, "started", m.Event, "every reconnect announces started")
	require.ErrorIs(t, h.client.Answer(o, "late"), ErrLateAnswer)
	require.ErrorIs(t, h.client.Answer(Offer{InfoHash: ih}, "forged"), ErrLateAnswer)
	require.Equal(t, 3.0, h.counter("dropped", dropLateAnswer))

	// A fresh offer on the new connection is answered.
	conn = conn2
	require.NoError(t, h.client.Answer(offer(), "fine"))
	m, _, err = conn.NextMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, "fine", m.Answer.SDP)
}

func TestReconnectBackoff(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, func(c *Config) {
		c.BackoffMin = 20 * time.Millisecond
		c.BackoffMax = 40 * time.Millisecond
	})
	h.join("a")
	h.start()
	var last time.Time
	for i := range 4 {
		conn := h.accept()
		if i > 0 {
			// Full jitter: up to the ceiling, so only an upper bound is certain.
			require.Less(t, time.Since(last), waitFor)
		}
		_, err := conn.Next(testCtx(t))
		require.NoError(t, err)
		conn.Close()
		last = time.Now()
	}
	eventually(t, func() bool { return h.counter("connects", "ok") >= 4 })

	for attempt := range 10 {
		for range 100 {
			d := backoff(attempt, time.Second, 2*time.Minute)
			require.Positive(t, d)
			require.LessOrEqual(t, d, min(time.Second<<attempt, 2*time.Minute))
		}
	}
}

func TestDialFailureCounted(t *testing.T) {
	h := newHarness(t, trackertest.Options{Accept: func(*http.Request) bool { return false }}, nil)
	h.start()
	eventually(t, func() bool { return h.counter("connects", "error") >= 2 })
}

func TestDeadConnectionDetected(t *testing.T) {
	h := newHarness(t, trackertest.Options{IgnorePings: true}, func(c *Config) {
		c.PingInterval = 30 * time.Millisecond
	})
	h.join("a")
	h.start()
	first := h.accept()
	_, err := first.Next(testCtx(t))
	require.NoError(t, err)
	second := h.accept() // the client gave up on the silent connection
	_, err = second.Next(testCtx(t))
	require.NoError(t, err)
	<-first.Done()
}

func TestOversizedIncoming(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(fmt.Sprintf("compressed=%v", compressed), func(t *testing.T) {
			h := newHarness(t, trackertest.Options{}, func(c *Config) {
				c.MaxMessageBytes = 1024
				c.DisableCompression = !compressed
			})
			h.join("a")
			h.start()
			conn := h.accept()
			_, err := conn.Next(testCtx(t))
			require.NoError(t, err)
			// Highly compressible: with deflate its wire size is far below the limit.
			big := `{"action":"announce","x":"` + strings.Repeat("a", 4096) + `"}`
			require.NoError(t, conn.Send([]byte(big)))
			conn2 := h.accept()
			_, err = conn2.Next(testCtx(t))
			require.NoError(t, err)
			require.Equal(t, 1.0, h.counter("dropped", dropOversized))
		})
	}
}

func TestGarbageNeverCrashes(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, nil)
	f, ih, _, _ := h.join("a")
	h.start()
	conn := h.accept()
	_, err := conn.Next(testCtx(t))
	require.NoError(t, err)
	garbage := []string{
		``, `null`, `[]`, `"x"`, `{`, `{"action":"announce"`, "\xff\xfe", `{"action":"announce","info_hash":5}`,
		`{"action":"announce","info_hash":"` + ih + `","offer":{"sdp":7}}`,
		`{"action":"announce","info_hash":"` + ih + `","interval":1e400}`,
		`{"action":"announce","info_hash":"` + ih + `","peer_id":"\u0100"}`,
		`{"x":` + strings.Repeat("[", 10000) + `}`,
	}
	for _, g := range garbage {
		require.NoError(t, conn.Send([]byte(g)))
	}
	valid := []string{
		`{"action":"announce","info_hash":"` + ih + `","offer":{"type":"offer","sdp":""},"offer_id":"o","peer_id":"p"}`, // invalid: no SDP
		`{"action":"announce","info_hash":"` + ih + `","answer":{"type":"answer","sdp":"x"}}`,                           // invalid: no ids
		`{"action":"scrape","files":{}}`,
		`{"action":"wat"}`,
		`{"failure reason":"invalid info_hash"}`,
		`{"action":"announce","info_hash":"` + ih + `","failure reason":"banned","interval":1}`,
		`{"action":"announce","info_hash":"` + ih + `","warning message":"careful","interval":-5}`,
	}
	for _, v := range valid {
		require.NoError(t, conn.Send([]byte(v)))
	}
	// Binary frames are read like text frames, as browsers do.
	require.NoError(t, conn.SendBinary([]byte(`{"action":"announce","info_hash":"`+ih+
		`","offer_id":"oid","peer_id":"-PM0203-remotepeer01","offer":{"type":"offer","sdp":"ok"}}`)))
	o := recv(t, f.offers)
	require.Equal(t, "ok", o.SDP)
	r := recv(t, f.responses) // the warning; the failure is not a response
	require.Equal(t, "careful", r.Warning)
	require.Zero(t, r.Interval, "a negative interval is ignored")
	require.Equal(t, float64(len(garbage)), h.counter("messages", dirIn, kindMalformed))
	require.Equal(t, 2.0, h.counter("messages", dirIn, kindFailure))
	require.Equal(t, 2.0, h.counter("dropped", dropInvalid))
	require.Equal(t, 1.0, h.counter("messages", dirIn, kindScrape))
	require.Equal(t, 1.0, h.counter("messages", dirIn, kindOther))
	require.Equal(t, 1.0, h.counter("connects", "ok"), "garbage does not cost the connection")
}

func TestShutdownSendsStopped(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, nil)
	_, iha, pida, _ := h.join("a")
	_, ihb, pidb, _ := h.join("b")
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	for range 2 {
		_, _, err := conn.NextMessage(ctx)
		require.NoError(t, err)
	}
	start := time.Now()
	h.stop()
	require.Less(t, time.Since(start), stopTimeout)
	var got []string
	for range 2 {
		b, err := conn.Next(ctx)
		require.NoError(t, err)
		got = append(got, string(b))
	}
	stopped := func(ih, pid string) string {
		return `{"numwant":0,"uploaded":0,"downloaded":0,"event":"stopped","action":"announce","info_hash":"` + ih +
			`","peer_id":"` + pid + `"}`
	}
	require.ElementsMatch(t, []string{stopped(iha, pida), stopped(ihb, pidb)}, got)
	<-conn.Done()
	require.Equal(t, 0.0, testutil.ToFloat64(h.client.cfg.Metrics.connected.WithLabelValues(h.client.url)))
}

func TestRunReturnsPromptlyWhileDisconnected(t *testing.T) {
	c, err := NewClient(Config{URL: "ws://127.0.0.1:1", BackoffMin: time.Hour, BackoffMax: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually(t, func() bool { return testutil.ToFloat64(c.m.connects.WithLabelValues("error")) == 1 })
	require.ErrorIs(t, c.Run(ctx), ErrRunning)
	cancel()
	require.NoError(t, recv(t, done))
}

func TestJoinLeaveWhileConnected(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, nil)
	h.start()
	conn := h.accept()
	f, ih, pid, leave := h.join("late")
	ctx := testCtx(t)
	m, _, err := conn.NextMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, "started", m.Event)
	require.Equal(t, ih, m.InfoHash)
	require.Equal(t, 1.0, testutil.ToFloat64(h.client.cfg.Metrics.swarms.WithLabelValues(h.client.url)))
	leave()
	b, err := conn.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, `{"numwant":0,"uploaded":0,"downloaded":0,"event":"stopped","action":"announce","info_hash":"`+ih+
		`","peer_id":"`+pid+`"}`, string(b))
	require.Equal(t, 0.0, testutil.ToFloat64(h.client.cfg.Metrics.swarms.WithLabelValues(h.client.url)))
	// Traffic for the swarm is now unknown.
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", InfoHash: ih, OfferID: "o", PeerID: "p",
		Offer: &wire.TrackerSDP{SDP: "x"}}))
	eventually(t, func() bool { return h.counter("dropped", dropUnknownSwarm) == 1 })
	noRecv(t, f.offers, 20*time.Millisecond)
}

func TestSlowOffersDoNotBlockOtherSwarms(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, func(c *Config) { c.OfferTimeout = time.Hour })
	ih, pid := ids("slow")
	slow := newFakeSwarm("slow")
	slow.block = true
	_, err := h.client.Join(ih, pid, slow)
	require.NoError(t, err)
	_, ihf, _, _ := h.join("fast")
	h.start()
	conn := h.accept()
	recv(t, slow.asked)
	m, _, err := conn.NextMessage(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, ihf, m.InfoHash)
	// Shutdown is not held up by the blocked Handler: it honours ctx.
}

func TestOfferTimeout(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, func(c *Config) { c.OfferTimeout = 20 * time.Millisecond })
	ih, pid := ids("slow")
	slow := newFakeSwarm("slow")
	slow.block = true
	_, err := h.client.Join(ih, pid, slow)
	require.NoError(t, err)
	h.start()
	conn := h.accept()
	b, err := conn.Next(testCtx(t))
	require.NoError(t, err)
	// Announced anyway, without offers.
	require.Equal(t, announceJSON("started", ih, pid, slow, 0, 0), string(b)) // numwant 0, offers []
}

func TestOutgoingSizeLimit(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, func(c *Config) { c.MaxOutgoingBytes = 300 })
	f, ih, pid, _ := h.join("a")
	f.offerSDP = func(i int) string { return fmt.Sprintf("v=0\r\no=- %d 2 IN IP4 127.0.0.1\r\ns=%s\r\n", i, f.name) }
	h.start()
	conn := h.accept()
	b, err := conn.Next(testCtx(t))
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), 300)
	require.Equal(t, announceJSON("started", ih, pid, f, 1, 1), string(b))
	require.Equal(t, 1.0, h.counter("dropped", dropOversized))

	// An answer that cannot fit is refused.
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", InfoHash: ih, OfferID: "o",
		PeerID: "-PM0203-remotepeer01", Offer: &wire.TrackerSDP{SDP: "x"}}))
	require.ErrorIs(t, h.client.Answer(recv(t, f.offers), strings.Repeat("x", 300)), ErrTooLarge)
}

func TestTrackerIDEchoed(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, nil)
	f, ih, _, _ := h.join("a")
	h.start()
	conn := h.accept()
	ctx := testCtx(t)
	_, _, err := conn.NextMessage(ctx)
	require.NoError(t, err)
	iv := int64(10)
	require.NoError(t, conn.SendMessage(&wire.TrackerMessage{Action: "announce", Interval: &iv, InfoHash: ih,
		ResponseTrackerID: "tid-1"}))
	recv(t, f.responses)
	m, b, err := conn.NextMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, "tid-1", m.TrackerID)
	require.Contains(t, string(b), `"peer_id":"`+m.PeerID+`","trackerid":"tid-1","offers":[`)
}

func TestQueueFull(t *testing.T) {
	h := newHarness(t, trackertest.Options{}, func(c *Config) { c.SendQueue = 1 })
	c := h.client
	cn := &conn{sendq: make(chan outgoing, 1)}
	require.True(t, c.enqueue(cn, outgoing{b: []byte("{}"), kind: kindOther}))
	require.False(t, c.enqueue(cn, outgoing{b: []byte("{}"), kind: kindOther}))
	require.Equal(t, 1.0, h.counter("dropped", dropQueueFull))
}

func TestRelayBetweenClients(t *testing.T) {
	// Two clients meet through the wt-tracker-like relay: the same flow as the
	// bittorrent-tracker interop test, without node.
	srv := trackertest.NewServer(t, trackertest.Options{Relay: true, Interval: 60})
	runClient := func(name string) (*Client, *fakeSwarm, string) {
		c, err := NewClient(Config{URL: srv.URL, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
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
		return c, f, pid
	}
	ca, fa, pida := runClient("a")
	recv(t, fa.responses) // a is in the swarm
	_, fb, pidb := runClient("b")
	o := recv(t, fa.offers) // b's started announce carries offers, relayed to a
	require.Equal(t, pidb, o.PeerID)
	require.True(t, strings.HasPrefix(o.OfferID, "offer-b-"))
	// a answers; the relay routes it to b by to_peer_id.
	require.NoError(t, ca.Answer(o, "answer-from-a"))
	a := recv(t, fb.answers)
	require.Equal(t, Answer{InfoHash: o.InfoHash, PeerID: pida, OfferID: o.OfferID, SDP: "answer-from-a", Tracker: srv.URL}, a)
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	cm := m.forTracker("wss://t.example")
	cm.message(dirIn, kindOffer)
	cm.drop(dropQueueFull)
	cm.connects.WithLabelValues("ok").Inc()
	cm.connected.Set(1)
	cm.swarms.Set(2)
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	for _, c := range []prometheus.Collector{m.connected, m.connects, m.messages, m.dropped, m.swarms} {
		problems, err := testutil.CollectAndLint(c)
		require.NoError(t, err)
		require.Empty(t, problems)
	}
	require.Equal(t, 5, func() int {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		return len(mfs)
	}())
}

func TestNewOfferID(t *testing.T) {
	a, b := NewOfferID(), NewOfferID()
	require.Len(t, a, 20)
	require.NotEqual(t, a, b)
	// Survives the wire as a binary string.
	m, err := wire.DecodeTrackerMessage((&wire.TrackerMessage{OfferID: a}).AppendJSON(nil))
	require.NoError(t, err)
	require.Equal(t, a, m.OfferID)
}
