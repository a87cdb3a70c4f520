package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/udpsock"
	"github.com/superpeer/superpeer/pkg/wire"
)

// stallTimeout is P2P Media Loader's p2pNotReceivingBytesTimeoutMs: a
// request that receives nothing for this long fails and is cancelled.
const stallTimeout = 2 * time.Second

// muxSocketBuffer is each muxed browser socket's kernel buffer, receive and
// send. One socket carries a quarter of every browser's traffic; on a box
// whose cores the generator shares with the seed, its reader can be off
// the CPU for a few hundred milliseconds, and what arrives meanwhile must
// wait in the kernel rather than be dropped: a drop here is the generator
// measuring itself (an SCTP retransmission timeout, a stalled request).
const muxSocketBuffer = 32 << 20

// browserAPIs builds n pion APIs for the simulated browsers, each carrying
// all of its peer connections on one UDP socket on 127.0.0.1 (an ICE UDP
// mux), so that thousands of browsers need a handful of descriptors. With
// n == 0 it builds one API that gives every connection its own socket, as
// real browsers have: needed when the seed itself muxes on one port, since
// a UDP mux routes by remote address and cannot tell apart many browsers
// that share one. With loss > 0 (muxed sockets only) each socket drops that
// fraction of the datagrams it receives, at random: a lossy last mile. With
// rtt > 0 (muxed sockets only) each socket holds what it receives for rtt,
// which every round trip to the seed then takes on top of loopback's.
func browserAPIs(n int, loss float64, rtt time.Duration) ([]*webrtc.API, []io.Closer, error) {
	var apis []*webrtc.API
	var closers []io.Closer
	if n == 0 {
		se := browserSettings(&logging.DefaultLoggerFactory{Writer: os.Stderr, DefaultLogLevel: logging.LogLevelDisabled})
		hostNet, err := stdnet.NewNet()
		if err != nil {
			return nil, nil, err
		}
		se.SetNet(bigBufferNet{hostNet})
		return []*webrtc.API{webrtc.NewAPI(webrtc.WithSettingEngine(se))}, nil, nil
	}
	for range n {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, closers, err
		}
		_, _ = udpsock.SetBuffers(conn, muxSocketBuffer)
		var pc net.PacketConn = conn
		var src addrPortReader = udpReader{conn}
		if loss > 0 {
			lc := &lossyConn{UDPConn: conn, loss: loss, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
			pc, src = lc, lc
		}
		if rtt > 0 {
			pc = newDelayConn(conn, src, rtt)
		}
		api, mux := muxAPI(pc)
		apis = append(apis, api)
		closers = append(closers, mux)
	}
	return apis, closers, nil
}

// bigBufferNet gives each browser socket the large kernel buffers the
// muxed sockets have: on loopback a seed's burst lands at once, and a
// generator short of CPU would otherwise drop it and measure itself.
type bigBufferNet struct{ *stdnet.Net }

// ListenUDP opens a socket with 8 MiB buffers (as far as the host allows).
func (n bigBufferNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(8 << 20)
	_ = c.SetWriteBuffer(8 << 20)
	return c, nil
}

// muxAPI builds a browser API whose connections all use conn. Closing the
// returned mux (or conn) silences them at once, as a killed tab does.
func muxAPI(conn net.PacketConn) (*webrtc.API, io.Closer) {
	lf := &logging.DefaultLoggerFactory{Writer: os.Stderr, DefaultLogLevel: logging.LogLevelDisabled}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: lf.NewLogger("udpmux")})
	se := browserSettings(lf)
	se.SetICEUDPMux(mux)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se)), mux
}

// browserSettings are every simulated browser's: detached channels, IPv4
// candidates on loopback only, and no mDNS. pion's default mDNS mode opens
// multicast sockets for every connection (about 2.6 descriptors per held
// browser), and at 5,000 browsers, with the offers still pending, that ran
// the generator out of descriptors before either seed was full. Neither
// seed offers ".local" candidates, so there is nothing to resolve.
func browserSettings(lf logging.LoggerFactory) webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.LoggerFactory = lf
	se.DetachDataChannels()
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}

// lossyConn drops a fraction of the datagrams read through it, at random, as
// a lossy link to the browser would. It is read by one goroutine, the ICE
// mux's, so its generator needs no lock.
type lossyConn struct {
	*net.UDPConn
	loss float64
	rng  *rand.Rand
}

// ReadFromAddrPort reads the next datagram that is not dropped. It is the
// allocation-free read the ICE mux uses when it finds it.
func (c *lossyConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil || c.rng.Float64() >= c.loss {
			return n, addr, err
		}
	}
}

// ReadFrom is ReadFromAddrPort for callers that want a net.Addr.
func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// WriteToAddrPort sends b unchanged: loss is applied on receipt only.
func (c *lossyConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

// addrPortReader is the allocation-free read of *net.UDPConn (adapted by
// udpReader) and lossyConn.
type addrPortReader interface {
	ReadFromAddrPort(b []byte) (int, netip.AddrPort, error)
}

// udpReader gives a *net.UDPConn the ReadFromAddrPort method.
type udpReader struct{ *net.UDPConn }

func (u udpReader) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return u.ReadFromUDPAddrPort(b)
}

// delayQueue is how many datagrams a delayConn holds at most: more than a
// socket's 8 MiB kernel buffer of full-sized datagrams. Past it datagrams
// are dropped, as a router's full queue would.
const delayQueue = 1 << 14

// delayedPacket is one datagram held by a delayConn until due.
type delayedPacket struct {
	buf  *[]byte
	n    int
	from netip.AddrPort
	due  time.Time
}

var delayBufs = sync.Pool{New: func() any { b := make([]byte, 2048); return &b }}

// delayConn holds every datagram received through it for a fixed delay
// before handing it on, in order: the long path between a viewer and a
// seed, added to every round trip (ICE checks, the DTLS and SCTP
// handshakes, each request). Writes leave at once. One goroutine reads the
// socket into a bounded queue; the ICE mux's goroutine reads the queue.
type delayConn struct {
	*net.UDPConn
	src     addrPortReader
	delay   time.Duration
	queue   chan delayedPacket
	err     error // the socket's read error, set before queue is closed
	dropped atomic.Int64
}

// newDelayConn starts holding conn's datagrams, read through src (conn
// itself, or a lossyConn over it), for delay each.
func newDelayConn(conn *net.UDPConn, src addrPortReader, delay time.Duration) *delayConn {
	c := &delayConn{UDPConn: conn, src: src, delay: delay, queue: make(chan delayedPacket, delayQueue)}
	go c.pump()
	return c
}

func (c *delayConn) pump() {
	for {
		buf := delayBufs.Get().(*[]byte)
		n, from, err := c.src.ReadFromAddrPort(*buf)
		if err != nil {
			delayBufs.Put(buf)
			if n := c.dropped.Load(); n > 0 {
				// The generator's own loss, not the seed's: say so.
				logf("-rtt: %d datagrams dropped at a full delay queue (%d)", n, delayQueue)
			}
			c.err = err
			close(c.queue)
			return
		}
		select {
		case c.queue <- delayedPacket{buf: buf, n: n, from: from, due: time.Now().Add(c.delay)}:
		default:
			c.dropped.Add(1)
			delayBufs.Put(buf)
		}
	}
}

// ReadFromAddrPort returns the next datagram once it is due.
func (c *delayConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	p, ok := <-c.queue
	if !ok {
		return 0, netip.AddrPort{}, c.err
	}
	if wait := time.Until(p.due); wait > 0 {
		time.Sleep(wait)
	}
	n := copy(b, (*p.buf)[:p.n])
	delayBufs.Put(p.buf)
	return n, p.from, nil
}

// ReadFrom is ReadFromAddrPort for callers that want a net.Addr.
func (c *delayConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// WriteToAddrPort sends b at once: the delay is applied on receipt only.
func (c *delayConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

// browserEnv is what every simulated browser of a run shares.
type browserEnv struct {
	trackerURL  string
	metrics     *tracker.Metrics
	joinTimeout time.Duration // per attempt: announce → data channel open
	attempts    int
	org         *origin
	// certs is one DTLS certificate for every browser connection: pion
	// would otherwise generate an ECDSA key and certificate per connection,
	// five per announce, which costs the generator more CPU than the
	// handshakes it measures.
	certs []webrtc.Certificate
	// offers is the number of offers per announce: 0 sends 5, as P2P Media
	// Loader 2.x pages do; a negative number sends none, as a 5.x page with
	// 50 peers, which the seed must then reach with its own offers.
	offers int
	// stay keeps a connected browser on the tracker, as real pages stay,
	// instead of leaving it (see browser).
	stay bool
}

func newCertificates() ([]webrtc.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, err
	}
	c, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, err
	}
	return []webrtc.Certificate{*c}, nil
}

// browser is one simulated P2P Media Loader 2.x page in one swarm: it
// announces with 5 offers like bittorrent-tracker's client, answers offers
// relayed from a seed, and keeps the first data channel that opens. Once
// connected it leaves the tracker (closes its socket), so that the swarm on
// the tracker holds only the seed and the browsers still connecting and
// every browser's offers reach the seed (trackers relay each offer to a
// random other member; with hundreds of members a browser would rarely
// meet the seed, and the benchmark measures the seed, not the pairing).
// With browserEnv.stay it stays, as a real page does: the run then measures
// how the seed finds browsers in a full swarm.
type browser struct {
	env    *browserEnv
	api    *webrtc.API
	sw     swarmInfo
	peerID string

	mu        sync.Mutex
	pcs       []*webrtc.PeerConnection
	pending   map[string]*webrtc.PeerConnection // by offer id
	answering bool
	announced time.Time // first announce of this browser
	opened    chan openedChannel
	client    *tracker.Client
	hold      func(context.Context) // returns when the browser may go on; the soak's rests

	pc    *webrtc.PeerConnection // the connection to the seed
	conn  *browserConn
	leave context.CancelFunc // stops the tracker client kept with stay
}

type openedChannel struct {
	pc  *webrtc.PeerConnection
	raw datachannel.ReadWriteCloserDeadliner
	at  time.Time
}

func newBrowser(env *browserEnv, api *webrtc.API, sw swarmInfo) *browser {
	return &browser{
		env: env, api: api, sw: sw,
		peerID:  peerIDPrefix(sw.gen) + randomAlnum(12),
		pending: map[string]*webrtc.PeerConnection{},
		opened:  make(chan openedChannel, 1),
		hold:    func(context.Context) {},
	}
}

// connect joins the swarm until a data channel to the seed opens and its
// first announcement is read. It returns the time from the first announce
// to the open channel and the number of announce attempts.
func (b *browser) connect(ctx context.Context) (time.Duration, int, error) {
	for attempt := 1; attempt <= b.env.attempts; attempt++ {
		if attempt > 1 {
			// A fresh peer id, as after a page reload: the seed still holds
			// the failed attempt's connection under the old id until its
			// connect timeout (30 s) and rejects a second one as a duplicate.
			b.mu.Lock()
			b.peerID = peerIDPrefix(b.sw.gen) + randomAlnum(12)
			b.mu.Unlock()
		}
		offers := b.env.offers
		if offers == 0 {
			offers = 5
		}
		if offers < 0 {
			offers = -1 // tracker.Config: none
			b.mu.Lock()
			if b.announced.IsZero() {
				b.announced = time.Now() // Offers is not asked: the announce goes now
			}
			b.mu.Unlock()
		}
		c, err := tracker.NewClient(tracker.Config{
			URL: b.env.trackerURL, Logger: zerolog.Nop(), Metrics: b.env.metrics,
			OffersPerAnnounce: offers, DefaultInterval: time.Hour, BackoffMin: 200 * time.Millisecond,
		})
		if err != nil {
			return 0, attempt, err
		}
		if _, err := c.Join(b.sw.infoHash, b.peerID, b); err != nil {
			return 0, attempt, err
		}
		b.mu.Lock()
		b.client = c
		b.mu.Unlock()
		cctx, cancel := context.WithCancel(ctx)
		go func() { _ = c.Run(cctx) }()
		t := time.NewTimer(b.env.joinTimeout)
		select {
		case oc := <-b.opened:
			t.Stop()
			if b.env.stay {
				b.mu.Lock()
				b.leave = cancel
				b.mu.Unlock()
			} else {
				cancel() // leave the tracker: a best-effort "stopped", then close
			}
			b.keep(oc.pc)
			b.mu.Lock()
			setup := oc.at.Sub(b.announced)
			b.mu.Unlock()
			b.conn = &browserConn{raw: oc.raw, joiner: wire.Joiner{Limit: 1 << 20}, buf: make([]byte, 1<<16)}
			if err := b.conn.readAnnouncement(); err != nil {
				return setup, attempt, fmt.Errorf("first announcement: %w", err)
			}
			return setup, attempt, nil
		case <-t.C:
			cancel()
			b.keep(nil)
		case <-ctx.Done():
			t.Stop()
			cancel()
			return 0, attempt, ctx.Err()
		}
	}
	return 0, b.env.attempts, errors.New("no data channel to the seed")
}

// keep closes every peer connection but pc (nil: all of them).
func (b *browser) keep(pc *webrtc.PeerConnection) {
	b.mu.Lock()
	var drop []*webrtc.PeerConnection
	for _, p := range b.pcs {
		if p != pc {
			drop = append(drop, p)
		}
	}
	b.pcs = b.pcs[:0]
	if pc != nil {
		b.pcs = append(b.pcs, pc)
	}
	b.pc = pc
	b.pending = map[string]*webrtc.PeerConnection{}
	b.answering = false
	b.mu.Unlock()
	for _, p := range drop {
		_ = p.Close()
	}
}

// alive reports whether the connection to the seed is still up.
func (b *browser) alive() bool {
	b.mu.Lock()
	pc := b.pc
	b.mu.Unlock()
	return pc != nil && pc.ConnectionState() == webrtc.PeerConnectionStateConnected
}

func (b *browser) close() {
	b.mu.Lock()
	leave := b.leave
	b.leave = nil
	b.mu.Unlock()
	if leave != nil {
		leave()
	}
	b.keep(nil)
}

func (b *browser) newPC() (*webrtc.PeerConnection, error) {
	pc, err := b.api.NewPeerConnection(webrtc.Configuration{Certificates: b.env.certs})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.pcs = append(b.pcs, pc)
	b.mu.Unlock()
	return pc, nil
}

// watch hands the channel to connect once it opens; a second one is closed.
func (b *browser) watch(pc *webrtc.PeerConnection, dc *webrtc.DataChannel) {
	dc.OnOpen(func() {
		raw, err := dc.DetachWithDeadline()
		if err != nil {
			return
		}
		select {
		case b.opened <- openedChannel{pc: pc, raw: raw, at: time.Now()}:
		default:
			_ = raw.Close()
		}
	})
}

func randomLabel() string {
	var b [20]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func gather(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return "", errors.New("gathering timed out")
	}
	return pc.LocalDescription().SDP, nil
}

// Offers implements tracker.Handler: n offers, each with its data channel
// created first (label: 40 hex chars), as simple-peer does.
func (b *browser) Offers(_ context.Context, n int) []tracker.LocalOffer {
	var out []tracker.LocalOffer
	for range n {
		pc, err := b.newPC()
		if err != nil {
			break
		}
		dc, err := pc.CreateDataChannel(randomLabel(), nil)
		if err != nil {
			break
		}
		b.watch(pc, dc)
		off, err := pc.CreateOffer(nil)
		if err != nil {
			break
		}
		sdp, err := gather(pc, off)
		if err != nil {
			break
		}
		id := tracker.NewOfferID()
		b.mu.Lock()
		b.pending[id] = pc
		b.mu.Unlock()
		out = append(out, tracker.LocalOffer{ID: id, SDP: sdp})
	}
	b.mu.Lock()
	if b.announced.IsZero() {
		b.announced = time.Now()
	}
	b.mu.Unlock()
	return out
}

// HandleAnswer completes one of our offers.
func (b *browser) HandleAnswer(a tracker.Answer) {
	b.mu.Lock()
	pc := b.pending[a.OfferID]
	delete(b.pending, a.OfferID)
	b.mu.Unlock()
	if pc != nil {
		go func() { _ = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP}) }()
	}
}

// HandleOffer answers an offer from a seed (not another simulated browser:
// browser-to-browser links would load the generator, not the target), once.
func (b *browser) HandleOffer(o tracker.Offer) {
	if bytes.HasPrefix([]byte(o.PeerID), []byte("-PM")) {
		return
	}
	b.mu.Lock()
	if b.answering || b.pc != nil {
		b.mu.Unlock()
		return
	}
	b.answering = true
	client := b.client
	b.mu.Unlock()
	go func() {
		pc, err := b.newPC()
		if err != nil {
			return
		}
		pc.OnDataChannel(func(dc *webrtc.DataChannel) { b.watch(pc, dc) })
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
			return
		}
		ans, err := pc.CreateAnswer(nil)
		if err != nil {
			return
		}
		sdp, err := gather(pc, ans)
		if err != nil {
			return
		}
		_ = client.Answer(o, sdp)
	}()
}

func (b *browser) HandleAnnounceResponse(tracker.AnnounceResponse) {}

// browserConn is the open data channel to the seed.
type browserConn struct {
	raw    datachannel.ReadWriteCloserDeadliner
	joiner wire.Joiner
	buf    []byte
	loaded []int64 // ids of the latest announcement
}

var errStall = errors.New("stall: no bytes for 2 s")

// next reads the next message within stallTimeout: a command, or raw data
// (cmd == nil).
func (c *browserConn) next() (*wire.Command, []byte, error) {
	for {
		_ = c.raw.SetReadDeadline(time.Now().Add(stallTimeout))
		n, err := c.raw.Read(c.buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, nil, errStall
			}
			return nil, nil, err
		}
		msg := c.buf[:n]
		if !wire.IsCommandFrame(msg) {
			return nil, msg, nil
		}
		p, err := c.joiner.Push(msg)
		if err != nil {
			continue // dropped, as the browser does
		}
		if p == nil {
			continue
		}
		cmd, err := wire.DecodePayload(p)
		if err != nil {
			continue
		}
		if cmd.Type == wire.SegmentsAnnouncement {
			c.loaded = cmd.Loaded
		}
		return &cmd, nil, nil
	}
}

func (c *browserConn) readAnnouncement() error {
	for range 100 {
		cmd, _, err := c.next()
		if err != nil {
			return err
		}
		if cmd != nil && cmd.Type == wire.SegmentsAnnouncement {
			return nil
		}
	}
	return errors.New("no announcement")
}

// watchAnnouncements reads the channel until ctx ends and records in seen[i]
// when an announcement first listed segment from+i. seen is this browser's
// alone until watchAnnouncements returns.
func (b *browser) watchAnnouncements(ctx context.Context, from int64, seen []time.Time) {
	for ctx.Err() == nil {
		cmd, _, err := b.conn.next()
		if errors.Is(err, errStall) {
			continue // nothing to announce for 2 s
		}
		if err != nil {
			return
		}
		if cmd == nil || cmd.Type != wire.SegmentsAnnouncement {
			continue
		}
		now := time.Now()
		for _, id := range cmd.Loaded {
			if i := id - from; i >= 0 && i < int64(len(seen)) && seen[i].IsZero() {
				seen[i] = now
			}
		}
	}
}

func (c *browserConn) send(cmd wire.Command) error {
	frames, err := wire.EncodeCommand(cmd, 0)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if _, err := c.raw.Write(f); err != nil {
			return err
		}
	}
	return nil
}

// pullStats are the pull phase's counters, shared by every puller.
type pullStats struct {
	bytes    atomic.Int64 // segment payload bytes received
	segments atomic.Int64 // verified segments
	stalls   atomic.Int64 // requests that got no bytes for 2 s
	bad      atomic.Int64 // segments whose sha256 differs from the origin's
	errors   atomic.Int64 // other failures (absent, protocol, closed)

	mu        sync.Mutex
	latencies []time.Duration // request → completed, verified segments
}

// paceNext returns how long to wait, at now, for a request due at due, and
// when the one after it is due: every later, or, for a late request (sent at
// once), every after now, so a late puller does not burst to catch up.
func paceNext(now, due time.Time, every time.Duration) (time.Duration, time.Time) {
	if wait := due.Sub(now); wait > 0 {
		return wait, due.Add(every)
	}
	return 0, now.Add(every)
}

// pull requests segments back to back, as a browser filling its P2P window
// does with one peer (one request at a time), and verifies every byte.
// With every > 0 it paces itself as a player watching at a bitrate does: a
// request every that long, from a random phase (a late one goes at once,
// and the schedule restarts from it rather than bursting to catch up).
func (b *browser) pull(ctx context.Context, st *pullStats, segments int, every time.Duration) {
	ids := b.conn.loaded
	if len(ids) == 0 {
		for i := range segments {
			ids = append(ids, int64(i))
		}
	}
	k := rand.IntN(len(ids))
	var next time.Time
	if every > 0 {
		next = time.Now().Add(rand.N(every))
	}
	for ctx.Err() == nil {
		b.hold(ctx)
		if every > 0 {
			var wait time.Duration
			wait, next = paceNext(time.Now(), next, every)
			sleep(ctx, wait)
		}
		id := ids[k%len(ids)]
		k++
		req := int64(rand.IntN(1000))
		start := time.Now()
		data, err := b.conn.download(id, req, st)
		switch {
		case errors.Is(err, errStall):
			st.stalls.Add(1)
			_ = b.conn.send(wire.Command{Type: wire.CancelSegmentRequest, SegmentID: id, RequestID: req})
			continue
		case err != nil:
			if ctx.Err() == nil {
				st.errors.Add(1)
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
					return
				}
			}
			continue
		}
		if sha256.Sum256(data) != b.env.org.hashes[b.sw.variant][id] {
			st.bad.Add(1)
			continue
		}
		d := time.Since(start)
		st.segments.Add(1)
		st.mu.Lock()
		st.latencies = append(st.latencies, d)
		st.mu.Unlock()
	}
}

// download sends a SegmentRequest and returns the segment, holding the
// uploader to protocol-v2 §5.6: header, exactly size bytes, completed.
func (c *browserConn) download(id, req int64, st *pullStats) ([]byte, error) {
	if err := c.send(wire.Command{Type: wire.SegmentRequest, SegmentID: id, RequestID: req}); err != nil {
		return nil, err
	}
	var got []byte
	size := int64(-1)
	for {
		cmd, data, err := c.next()
		if err != nil {
			return nil, err
		}
		switch {
		case cmd == nil:
			if size < 0 {
				continue // chunks of an abandoned request
			}
			got = append(got, data...)
			st.bytes.Add(int64(len(data)))
			if int64(len(got)) > size {
				return nil, fmt.Errorf("%d bytes, more than announced %d", len(got), size)
			}
		case cmd.Type == wire.SegmentAbsent && cmd.RequestID == req:
			return nil, fmt.Errorf("segment %d absent", id)
		case cmd.Type == wire.SegmentData:
			if cmd.SegmentID != id || cmd.RequestID != req || size >= 0 {
				continue
			}
			size = cmd.Size
			got = make([]byte, 0, size)
		case cmd.Type == wire.SegmentDataSendingCompleted && size >= 0:
			if cmd.SegmentID != id || cmd.RequestID != req || int64(len(got)) != size {
				return nil, fmt.Errorf("completed %d/%d after %d of %d bytes", cmd.SegmentID, cmd.RequestID, len(got), size)
			}
			return got, nil
		}
	}
}
