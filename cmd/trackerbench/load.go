package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/superpeer/superpeer/pkg/wire"
)

// loadConfig is one benchmark run's load.
type loadConfig struct {
	conns           int
	swarms          int
	swarmsPerConn   int
	offers          int
	sdpBytes        int
	rate            float64
	steady          time.Duration
	saturate        time.Duration
	saturateClients int
	settle          time.Duration
	concurrency     int
	deflate         bool
}

func (c loadConfig) validate() error {
	switch {
	case c.swarms <= 0 || c.swarmsPerConn <= 0 || c.swarmsPerConn > c.swarms:
		return errors.New("want 0 < -swarms-per-conn <= -swarms")
	case c.offers < 0 || c.offers > 50:
		return errors.New("want 0 <= -offers <= 50")
	case c.sdpBytes < 200:
		return errors.New("want -sdp-bytes >= 200")
	case c.rate <= 0 || c.steady <= 0:
		return errors.New("want -rate > 0 and -steady > 0")
	case c.concurrency <= 0:
		return errors.New("want -connect-concurrency > 0")
	}
	return nil
}

// Phases of a run; RTTs are recorded in steady and saturate.
const (
	phaseConnect int32 = iota
	phaseSteady
	phaseSaturate
	phaseDone
)

// counts are the messages the load generator sent and received: the tracker
// received the sent ones and sent the received ones.
type counts struct {
	sentAnnounce, sentAnswer                                    int64
	recvResponse, recvOffer, recvAnswer, recvFailure, recvOther int64
}

func (c counts) total() int64 {
	return c.sentAnnounce + c.sentAnswer + c.recvResponse + c.recvOffer + c.recvAnswer + c.recvFailure + c.recvOther
}

func (c counts) sub(o counts) counts {
	return counts{c.sentAnnounce - o.sentAnnounce, c.sentAnswer - o.sentAnswer, c.recvResponse - o.recvResponse,
		c.recvOffer - o.recvOffer, c.recvAnswer - o.recvAnswer, c.recvFailure - o.recvFailure, c.recvOther - o.recvOther}
}

type atomicCounts struct {
	sentAnnounce, sentAnswer                                    atomic.Int64
	recvResponse, recvOffer, recvAnswer, recvFailure, recvOther atomic.Int64
}

func (a *atomicCounts) load() counts {
	return counts{a.sentAnnounce.Load(), a.sentAnswer.Load(), a.recvResponse.Load(), a.recvOffer.Load(), a.recvAnswer.Load(),
		a.recvFailure.Load(), a.recvOther.Load()}
}

// loadgen drives the clients of one run.
type loadgen struct {
	cfg       loadConfig
	url       string
	offerSDP  []byte // JSON string, quotes included
	answerSDP []byte
	n         atomicCounts
	phase     atomic.Int32

	rttMu sync.Mutex
	rtts  map[int32][]time.Duration

	clients []*client
	readers sync.WaitGroup
}

// client is one WebSocket with one peer id in swarmsPerConn swarms.
type client struct {
	g      *loadgen
	idx    int
	peerID string
	ws     *websocket.Conn
	swarms []string
	sent   []atomic.Int64 // unix nanos of the outstanding announce per swarm, 0 if none
	loop   atomic.Bool    // re-announce on every response (saturation)

	responded atomic.Int32 // swarms that got at least one response
	closed    atomic.Bool

	wmu    sync.Mutex
	buf    []byte
	offerN int64
}

// Keys the load generator looks for. The ids it uses are 20 ASCII
// characters, so a value is the 20 bytes after the key whatever the tracker's
// member order.
var (
	keyOffer    = []byte(`"offer":{`)
	keyAnswer   = []byte(`"answer":{`)
	keyFailure  = []byte(`"failure reason"`)
	keyInterval = []byte(`"interval":`)
	keyInfoHash = []byte(`"info_hash":"`)
	keyPeerID   = []byte(`"peer_id":"`)
	keyOfferID  = []byte(`"offer_id":"`)
)

// fakeSDP returns an SDP of about n bytes shaped like a browser's non-trickle
// data-channel offer (CRLF lines, candidates, fingerprint).
func fakeSDP(kind string, n int) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"a=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
		"c=IN IP4 0.0.0.0\r\na=ice-ufrag:Xz4v\r\na=ice-pwd:bT7Q1kq0c2lbVmVpE0Fh1a6Q\r\n" +
		"a=fingerprint:sha-256 7B:3F:0A:9C:55:21:D4:8E:11:6A:F2:90:3C:7D:0E:58:A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90\r\n")
	if kind == "offer" {
		b.WriteString("a=setup:actpass\r\n")
	} else {
		b.WriteString("a=setup:active\r\n")
	}
	b.WriteString("a=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "a=candidate:%d 1 udp 2122260223 192.0.2.%d %d typ host generation 0 network-id 1\r\n",
			1000000000+i*7919, i%250+1, 50000+i)
	}
	return b.String()[:n]
}

func newLoadgen(cfg loadConfig, url string) *loadgen {
	return &loadgen{
		cfg:       cfg,
		url:       url,
		offerSDP:  wire.AppendJSONString(nil, fakeSDP("offer", cfg.sdpBytes), false),
		answerSDP: wire.AppendJSONString(nil, fakeSDP("answer", cfg.sdpBytes), false),
		rtts:      map[int32][]time.Duration{},
	}
}

func appendPadded(b []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// infoHash names swarm i with 20 ASCII characters.
func infoHash(i int) string { return fmt.Sprintf("bench-swarm-%08d", i) }

// announce writes an announce for the client's i-th swarm with fresh offers.
func (c *client) announce(i int, event string) error {
	g := c.g
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.buf[:0]
	b = append(b, `{"numwant":`...)
	b = strconv.AppendInt(b, int64(g.cfg.offers), 10)
	b = append(b, `,"uploaded":0,"downloaded":0,`...)
	if event != "" {
		b = append(b, `"event":"`...)
		b = append(b, event...)
		b = append(b, `",`...)
	}
	b = append(b, `"action":"announce","info_hash":"`...)
	b = append(b, c.swarms[i]...)
	b = append(b, `","peer_id":"`...)
	b = append(b, c.peerID...)
	b = append(b, `","offers":[`...)
	for k := range g.cfg.offers {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"offer":{"type":"offer","sdp":`...)
		b = append(b, g.offerSDP...)
		b = append(b, `},"offer_id":"`...)
		c.offerN++
		b = appendPadded(b, int64(c.idx), 8)
		b = appendPadded(b, c.offerN%1e12, 12)
		b = append(b, `"}`...)
	}
	b = append(b, `]}`...)
	c.buf = b
	c.sent[i].Store(time.Now().UnixNano())
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return err
	}
	g.n.sentAnnounce.Add(1)
	return nil
}

func (c *client) answer(ih, to, offerID []byte) error {
	g := c.g
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.buf[:0]
	b = append(b, `{"action":"announce","info_hash":"`...)
	b = append(b, ih...)
	b = append(b, `","peer_id":"`...)
	b = append(b, c.peerID...)
	b = append(b, `","to_peer_id":"`...)
	b = append(b, to...)
	b = append(b, `","answer":{"type":"answer","sdp":`...)
	b = append(b, g.answerSDP...)
	b = append(b, `},"offer_id":"`...)
	b = append(b, offerID...)
	b = append(b, `"}`...)
	c.buf = b
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return err
	}
	g.n.sentAnswer.Add(1)
	return nil
}

func field(b, key []byte) []byte {
	i := bytes.Index(b, key)
	if i < 0 || i+len(key)+21 > len(b) || b[i+len(key)+20] != '"' {
		return nil
	}
	return b[i+len(key) : i+len(key)+20]
}

func (c *client) readLoop() {
	defer c.g.readers.Done()
	defer c.closed.Store(true)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		c.onMessage(b)
	}
}

func (c *client) onMessage(b []byte) {
	g := c.g
	switch {
	case bytes.Contains(b, keyOffer):
		ih, from, oid := field(b, keyInfoHash), field(b, keyPeerID), field(b, keyOfferID)
		if ih == nil || from == nil || oid == nil {
			g.n.recvOther.Add(1)
			return
		}
		g.n.recvOffer.Add(1)
		_ = c.answer(ih, from, oid)
	case bytes.Contains(b, keyAnswer):
		g.n.recvAnswer.Add(1)
	case bytes.Contains(b, keyFailure):
		g.n.recvFailure.Add(1)
	case bytes.Contains(b, keyInterval):
		g.n.recvResponse.Add(1)
		ih := field(b, keyInfoHash)
		for i, s := range c.swarms {
			if string(ih) != s {
				continue
			}
			if t := c.sent[i].Swap(0); t != 0 {
				if c.responded.Load() < int32(len(c.swarms)) {
					c.responded.Add(1)
				}
				if p := g.phase.Load(); p == phaseSteady || p == phaseSaturate {
					g.recordRTT(p, time.Duration(time.Now().UnixNano()-t))
				}
			}
			if g.phase.Load() == phaseSaturate && c.loop.Load() {
				_ = c.announce(i, "")
			}
			break
		}
	default:
		g.n.recvOther.Add(1)
	}
}

func (g *loadgen) recordRTT(p int32, d time.Duration) {
	g.rttMu.Lock()
	g.rtts[p] = append(g.rtts[p], d)
	g.rttMu.Unlock()
}

func (g *loadgen) takeRTTs(p int32) []time.Duration {
	g.rttMu.Lock()
	defer g.rttMu.Unlock()
	r := g.rtts[p]
	delete(g.rtts, p)
	slices.Sort(r)
	return r
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// connect opens every client, each announcing "started" in its swarms.
func (g *loadgen) connect(ctx context.Context) (failed int) {
	dialer := websocket.Dialer{
		HandshakeTimeout:  10 * time.Second,
		EnableCompression: g.cfg.deflate,
		ReadBufferSize:    2048,
		WriteBufferPool:   &sync.Pool{},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				// Closing resets instead of leaving TIME_WAIT behind: runs
				// of 10k connections would otherwise exhaust the ephemeral
				// ports of 127.0.0.1.
				_ = tc.SetLinger(0)
			}
			return c, err
		},
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sem  = make(chan struct{}, g.cfg.concurrency)
		fail atomic.Int64
	)
	g.clients = make([]*client, g.cfg.conns)
	for i := range g.clients {
		c := &client{g: g, idx: i, peerID: "-BN0001-" + string(appendPadded(nil, int64(i), 12)),
			sent: make([]atomic.Int64, g.cfg.swarmsPerConn)}
		for j := range g.cfg.swarmsPerConn {
			c.swarms = append(c.swarms, infoHash((i*g.cfg.swarmsPerConn+j)%g.cfg.swarms))
		}
		g.clients[i] = c
	}
	for _, c := range g.clients {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, resp, err := dialer.DialContext(ctx, g.url, nil)
			if resp != nil && resp.Body != nil {
				_ = resp.Body.Close()
			}
			if err != nil {
				if fail.Add(1) <= 3 {
					mu.Lock()
					logf("dial: %v", err)
					mu.Unlock()
				}
				c.closed.Store(true)
				return
			}
			c.ws = ws
			g.readers.Add(1)
			go c.readLoop()
			for j := range c.swarms {
				if err := c.announce(j, "started"); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	// Wait for every started announce to be answered (or give up).
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done := true
		for _, c := range g.clients {
			if c.ws != nil && !c.closed.Load() && c.responded.Load() < int32(len(c.swarms)) {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return int(fail.Load())
}

// runSteady re-announces every (client, swarm) pair at an overall rate of
// cfg.rate announces per second until ctx ends.
func (g *loadgen) runSteady(ctx context.Context) {
	pairs := float64(len(g.clients) * g.cfg.swarmsPerConn)
	period := time.Duration(pairs / g.cfg.rate * float64(time.Second)) // per pair
	gap := period / time.Duration(g.cfg.swarmsPerConn)                 // between one client's announces
	var wg sync.WaitGroup
	for _, c := range g.clients {
		if c.ws == nil || c.closed.Load() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(time.Duration(rand.Int64N(int64(gap) + 1)))
			defer t.Stop()
			for i := 0; ; i = (i + 1) % len(c.swarms) {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if c.announce(i, "") != nil {
					return
				}
				t.Reset(gap)
			}
		}()
	}
	wg.Wait()
}

// close ends every client (the tracker process is gone or going).
func (g *loadgen) close() {
	for _, c := range g.clients {
		if c.ws != nil {
			_ = c.ws.Close()
		}
	}
	g.readers.Wait()
	g.clients = nil
	runtime.GC()
}

// phaseResult is what one measured phase produced.
type phaseResult struct {
	Seconds         float64 `json:"seconds"`
	Announces       int64   `json:"announces"` // responses received
	AnnouncesPerSec float64 `json:"announcesPerSec"`
	Messages        int64   `json:"messages"` // in + out at the tracker
	MessagesPerSec  float64 `json:"messagesPerSec"`
	Failures        int64   `json:"failures"`
	CPUSeconds      float64 `json:"cpuSeconds"`
	CPUCores        float64 `json:"cpuCores"`
	CPUMicrosPerMsg float64 `json:"cpuMicrosPerMsg"`
	RTTp50Ms        float64 `json:"rttP50Ms"`
	RTTp99Ms        float64 `json:"rttP99Ms"`
	RSSKiB          int64   `json:"rssKiB"`
}

// result is one tracker at one connection count.
type result struct {
	Tracker        string       `json:"tracker"`
	Conns          int          `json:"conns"`
	Held           int          `json:"held"`
	DialFailures   int          `json:"dialFailures"`
	BaseRSSKiB     int64        `json:"baseRssKiB"`
	IdleRSSKiB     int64        `json:"idleRssKiB"`
	KiBPerConnIdle float64      `json:"kibPerConnIdle"`
	KiBPerConnLoad float64      `json:"kibPerConnLoad"`
	Steady         phaseResult  `json:"steady"`
	Saturate       *phaseResult `json:"saturate,omitempty"`
}

func (r result) summary() string {
	s := fmt.Sprintf("%s: %d/%d connections held, %.1f KiB/conn idle, %.1f under load; steady %.0f announces/s, %.0f msg/s, %.2f cores, %.2f µs CPU/msg, RTT p50 %.2f ms p99 %.2f ms",
		r.Tracker, r.Held, r.Conns, r.KiBPerConnIdle, r.KiBPerConnLoad, r.Steady.AnnouncesPerSec, r.Steady.MessagesPerSec,
		r.Steady.CPUCores, r.Steady.CPUMicrosPerMsg, r.Steady.RTTp50Ms, r.Steady.RTTp99Ms)
	if p := r.Saturate; p != nil {
		s += fmt.Sprintf("; saturated %.0f announces/s, %.0f msg/s, %.2f cores, %.2f µs CPU/msg, RTT p50 %.1f ms p99 %.1f ms",
			p.AnnouncesPerSec, p.MessagesPerSec, p.CPUCores, p.CPUMicrosPerMsg, p.RTTp50Ms, p.RTTp99Ms)
	}
	return s
}

// measure runs one benchmark against a started tracker and stops it.
func measure(ctx context.Context, tp *trackerProc, cfg loadConfig) (result, error) {
	r := result{Tracker: tp.name, Conns: cfg.conns}
	logf("%s: %d connections, %d swarms × %d per connection, %d offers of %d B", tp.name, cfg.conns, cfg.swarms,
		cfg.swarmsPerConn, cfg.offers, cfg.sdpBytes)
	if err := sleepCtx(ctx, time.Second); err != nil {
		return r, err
	}
	base, err := sampleProc(tp.pid)
	if err != nil {
		return r, err
	}
	r.BaseRSSKiB = base.rssKiB

	g := newLoadgen(cfg, tp.url)
	defer g.close()
	defer tp.stop() // before the clients close: the tracker is not measured tearing down
	start := time.Now()
	r.DialFailures = g.connect(ctx)
	logf("connected in %s (%d dial failures)", time.Since(start).Round(time.Millisecond), r.DialFailures)
	if err := sleepCtx(ctx, cfg.settle); err != nil {
		return r, err
	}
	idle, err := sampleProc(tp.pid)
	if err != nil {
		return r, err
	}
	r.IdleRSSKiB = idle.rssKiB
	r.KiBPerConnIdle = float64(idle.rssKiB-base.rssKiB) / float64(cfg.conns)

	phase := func(p int32, d time.Duration, drive func(context.Context)) (phaseResult, error) {
		var pr phaseResult
		c0, s0 := g.n.load(), must(sampleProc(tp.pid))
		g.phase.Store(p)
		pctx, cancel := context.WithTimeout(ctx, d)
		drive(pctx)
		<-pctx.Done()
		cancel()
		c1, s1 := g.n.load(), must(sampleProc(tp.pid))
		g.phase.Store(phaseConnect)
		if ctx.Err() != nil {
			return pr, ctx.Err()
		}
		dc := c1.sub(c0)
		secs := s1.at.Sub(s0.at).Seconds()
		rtts := g.takeRTTs(p)
		pr = phaseResult{
			Seconds:         secs,
			Announces:       dc.recvResponse,
			AnnouncesPerSec: float64(dc.recvResponse) / secs,
			Messages:        dc.total(),
			MessagesPerSec:  float64(dc.total()) / secs,
			Failures:        dc.recvFailure,
			CPUSeconds:      (s1.cpu - s0.cpu).Seconds(),
			CPUCores:        (s1.cpu - s0.cpu).Seconds() / secs,
			RTTp50Ms:        float64(percentile(rtts, 0.50)) / 1e6,
			RTTp99Ms:        float64(percentile(rtts, 0.99)) / 1e6,
			RSSKiB:          s1.rssKiB,
		}
		if dc.total() > 0 {
			pr.CPUMicrosPerMsg = pr.CPUSeconds * 1e6 / float64(dc.total())
		}
		return pr, nil
	}

	r.Steady, err = phase(phaseSteady, cfg.steady, g.runSteady)
	if err != nil {
		return r, err
	}
	r.KiBPerConnLoad = float64(r.Steady.RSSKiB-base.rssKiB) / float64(cfg.conns)
	if cfg.saturate > 0 {
		if err := sleepCtx(ctx, time.Second); err != nil { // drain the steady phase
			return r, err
		}
		loopers := g.clients[:min(len(g.clients), cfg.saturateClients)]
		for _, c := range loopers {
			c.loop.Store(true)
		}
		sat, err := phase(phaseSaturate, cfg.saturate, func(context.Context) {
			for _, c := range loopers {
				if c.ws == nil || c.closed.Load() {
					continue
				}
				for i := range c.swarms {
					_ = c.announce(i, "")
				}
			}
		})
		if err != nil {
			return r, err
		}
		r.Saturate = &sat
	}
	for _, c := range g.clients {
		if c.ws != nil && !c.closed.Load() && c.responded.Load() > 0 {
			r.Held++
		}
	}
	return r, nil
}

func must(s procSample, err error) procSample {
	if err != nil {
		logf("sample tracker process: %v", err)
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
