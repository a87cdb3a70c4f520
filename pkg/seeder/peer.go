package seeder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// Peer limits.
const (
	// maxIncomingMessage is the largest data-channel message read.
	// Browsers send at most webRtcMaxMessageSize (65535) bytes per message.
	maxIncomingMessage = 64 << 10
	// smallRead is each peer's own read buffer: a request, a cancel or a
	// short announcement fits. A larger message (a long announcement, a
	// 0.6 segment map, unrequested segment data) is read into a pooled
	// buffer, so an idle peer holds 512 bytes, not 64 KiB. Measured at
	// 1,000 idle browsers against 4 KiB: 9 KiB less heap per browser.
	smallRead = 512
	// maxCommandBytes bounds a command joined from several frames: an
	// announcement of the largest decodable id list is about 66 KB, and a
	// browser announces no more than its cache. Held while a command is
	// incomplete, so it bounds what one peer can pin.
	maxCommandBytes = 128 << 10
	// maxQueuedBytes bounds the commands waiting for a peer's send buffer
	// to drain. A browser that asks and never reads fills it and is dropped.
	maxQueuedBytes = 1 << 20
)

// errQueueFull ends a peer whose command queue went over maxQueuedBytes.
var errQueueFull = errors.New("peer send queue full")

// errOversized ends a peer that sent a message over maxIncomingMessage.
var errOversized = errors.New("oversized message")

// Why a peer ended: the cause of its context, and the reason label of
// superpeer_peer_disconnects_total once its data channel had opened.
var (
	// errBrowserClosed: the browser closed the data channel or the
	// connection.
	errBrowserClosed = errors.New("browser closed the connection")
	// errICEFailed: nothing arrived on the selected candidate pair for the
	// ICE disconnected and failed timeouts.
	errICEFailed = errors.New("ice failed: nothing from the browser")
	// errSetup: superpeer gave up on a connection being set up (glare,
	// eviction, a failed answer, shutdown).
	errSetup = errors.New("connection setup abandoned")
)

// rtcEnv is the process's WebRTC setup, shared by every peer.
type rtcEnv struct {
	api    *webrtc.API
	config webrtc.Configuration
	// nominations is the API's nomination hook; a closed connection's
	// record is dropped from it.
	nominations *nominations
	// connectTimeout bounds gathering and the wait for the data channel.
	connectTimeout time.Duration
	// bufferLow and bufferHigh are the send buffer's flow-control marks.
	bufferLow, bufferHigh uint64
	// maxMessage is the largest data-channel message to send.
	maxMessage int
	// bigReads holds buffers for incoming messages over smallRead, shared
	// by every peer's reader.
	bigReads *sync.Pool
}

// peerEnv is what a stream hands each of its peers.
type peerEnv struct {
	rtc *rtcEnv
	// throttle takes n bytes from the upload rate limit and returns how
	// long to wait before sending them.
	throttle func(n int) time.Duration
	metrics  *streamMetrics
	stats    *streamStats
	now      func() time.Time
}

// peer is one browser connection in one swarm: the WebRTC transport, flow
// control and pacing, with a generation's session deciding what to say. Its
// run goroutine owns all of its state: pion callbacks only signal through
// channels or cancel its context, and a reader goroutine hands over the
// messages the session wants.
type peer struct {
	env       *peerEnv
	sess      session
	remoteID  string
	direction string // "answer" (the browser offered) or "offer"
	log       zerolog.Logger
	ctx       context.Context
	end       context.CancelCauseFunc // ends ctx, with why
	done      func(*peer)             // the swarm forgets the peer
	isOpen    atomic.Bool             // the data channel has opened
	created   time.Time
	// negotiated is when both descriptions were in hand: the browser's
	// offer taken (created) or its answer to ours arriving (setRemote).
	negotiated time.Time

	// pcMu guards pc, ufrag and closed: close may come from any
	// goroutine (glare, eviction, shutdown) while the connection is still
	// being made.
	pcMu   sync.Mutex
	pc     *webrtc.PeerConnection
	ufrag  string // our ICE username fragment, once the SDP is made
	closed bool

	opened    chan openChannel // the data channel, once open
	published chan struct{}    // the swarm published a new segment index
	low       chan struct{}    // the send buffer drained
	// fresh is the Fresh time (Unix ns) of the oldest published segment
	// set whose news run has not yet handed to the session; 0 if none.
	fresh atomic.Int64

	// Owned by run.
	dc      *webrtc.DataChannel
	raw     datachannel.ReadWriteCloser
	up      *upload
	queue   [][]byte // commands waiting for the send buffer
	queued  int      // bytes in queue
	timer   *time.Timer
	timerC  <-chan time.Time
	lastErr error // a failure met inside an outbox call
	stats   peerStats

	// cmdsQueued and cmdsWritten count command messages ever queued and
	// written; announcing are the queued announcements that bring news of
	// newly held segments, oldest first, timed until their last message is
	// written.
	cmdsQueued, cmdsWritten int64
	announcing              []pendingAnnounce
}

// openChannel is a data channel that has opened, and its detached stream.
type openChannel struct {
	dc  *webrtc.DataChannel
	raw datachannel.ReadWriteCloser
}

// pendingAnnounce is an announcement queued with news of newly held
// segments.
type pendingAnnounce struct {
	held  time.Time // when superpeer came to hold the oldest of them
	until int64     // cmdsWritten once its last message is out
}

// maxPendingAnnounces bounds the announcements timed at once for a peer. A
// browser that reads so slowly that more are queued has the newest merged
// into the last, whose earlier time then stands for both: its delay is
// overstated, never hidden.
const maxPendingAnnounces = 8

type peerStats struct {
	sentBytes int64
	served    int
}

var _ outbox = (*peer)(nil)

func newPeer(ctx context.Context, env *peerEnv, sess session, remoteID, direction string, log zerolog.Logger, done func(*peer)) *peer {
	ctx, end := context.WithCancelCause(ctx)
	now := env.now()
	return &peer{
		env:        env,
		sess:       sess,
		remoteID:   remoteID,
		direction:  direction,
		log:        log,
		ctx:        ctx,
		end:        end,
		done:       done,
		created:    now,
		negotiated: now,
		opened:     make(chan openChannel, 1),
		published:  make(chan struct{}, 1),
		low:        make(chan struct{}, 1),
	}
}

// setRemote names the browser that answered our offer. The swarm calls it
// before the peer runs.
func (p *peer) setRemote(id string) {
	p.remoteID = id
	p.negotiated = p.env.now()
	p.log = p.log.With().Str("peer", shortPeerID(id)).Logger()
}

// newPeerConnection creates the pion connection and routes its events.
func (p *peer) newPeerConnection() error {
	pc, err := p.env.rtc.api.NewPeerConnection(p.env.rtc.config)
	if err != nil {
		return fmt.Errorf("new peer connection: %w", err)
	}
	p.pcMu.Lock()
	closed := p.closed
	if !closed {
		p.pc = pc
	}
	p.pcMu.Unlock()
	if closed {
		// Closed while this was being made: nobody else would close it.
		_ = pc.Close()
		return fmt.Errorf("new peer connection: %w", context.Cause(p.ctx))
	}
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		switch state {
		case webrtc.PeerConnectionStateFailed:
			p.end(errICEFailed)
		case webrtc.PeerConnectionStateClosed:
			// Closed by pion when the browser closed DTLS; when superpeer
			// closed it, the cause is already set.
			p.end(errBrowserClosed)
		}
	})
	return nil
}

// attach prepares a data channel: it is detached on open and handed to run.
// Browsers open exactly one; any further channel is ignored.
func (p *peer) attach(dc *webrtc.DataChannel) {
	dc.SetBufferedAmountLowThreshold(p.env.rtc.bufferLow)
	dc.OnBufferedAmountLow(func() { signal(p.low) })
	dc.OnOpen(func() {
		raw, err := dc.Detach()
		if err != nil {
			p.log.Debug().Err(err).Msg("detach data channel")
			p.end(err)
			return
		}
		select {
		case p.opened <- openChannel{dc: dc, raw: raw}:
		default:
			_ = raw.Close() // a second channel
		}
	})
	dc.OnClose(func() { p.end(errBrowserClosed) })
}

// answer answers a browser's offer and returns our SDP. Gathering completes
// before the answer goes out: tracker signalling carries exactly one SDP
// each way.
func (p *peer) answer(offer string) (string, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.env.rtc.connectTimeout)
	defer cancel()
	if err := p.newPeerConnection(); err != nil {
		return "", err
	}
	var once sync.Once
	p.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		once.Do(func() { p.attach(dc) })
	})
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("set remote offer: %w", err)
	}
	ans, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w", err)
	}
	return p.gather(ctx, ans)
}

// offer creates our side of a connection: one ordered, reliable data
// channel, created before the offer as browsers do.
func (p *peer) offer(ctx context.Context) (string, error) {
	if err := p.newPeerConnection(); err != nil {
		return "", err
	}
	dc, err := p.pc.CreateDataChannel(randomLabel(), nil)
	if err != nil {
		return "", fmt.Errorf("create data channel: %w", err)
	}
	p.attach(dc)
	off, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	return p.gather(ctx, off)
}

// gather sets the local description and waits for ICE gathering to finish.
func (p *peer) gather(ctx context.Context, desc webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(p.pc)
	p.pcMu.Lock()
	p.ufrag = iceUfrag(desc.SDP)
	p.pcMu.Unlock()
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return "", fmt.Errorf("gather candidates: %w", ctx.Err())
	}
	return p.pc.LocalDescription().SDP, nil
}

// close tears the connection down for cause, unless it ended already;
// safe to call more than once.
func (p *peer) close(cause error) {
	p.end(cause) // the first cause stays
	p.pcMu.Lock()
	if p.closed {
		p.pcMu.Unlock()
		return
	}
	p.closed = true
	pc, ufrag := p.pc, p.ufrag
	p.pcMu.Unlock()
	if pc != nil {
		_ = pc.Close()
		// After Close: its ICE agent sees no more requests that could
		// record the connection again.
		p.env.rtc.nominations.forget(ufrag)
	}
}

// notifyPublished tells run that the swarm published a new segment index,
// which first lists as held segments held since fresh (zero: none).
func (p *peer) notifyPublished(fresh time.Time) {
	if !fresh.IsZero() {
		p.fresh.CompareAndSwap(0, fresh.UnixNano()) // the oldest news waiting stands for the rest
	}
	signal(p.published)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run waits for the data channel and then serves the browser until the
// connection ends. It owns the peer from here on and releases everything.
func (p *peer) run() {
	m := p.env.metrics
	defer p.done(p)
	defer p.close(errSetup)

	timer := time.NewTimer(p.env.rtc.connectTimeout)
	defer timer.Stop()
	select {
	case oc := <-p.opened:
		p.dc, p.raw = oc.dc, oc.raw
	case <-timer.C:
		m.connections.WithLabelValues(p.direction, "timeout").Inc()
		return
	case <-p.ctx.Done():
		m.connections.WithLabelValues(p.direction, "failed").Inc()
		return
	}
	p.isOpen.Store(true)
	m.connections.WithLabelValues(p.direction, "connected").Inc()
	m.setup.WithLabelValues(p.direction).Observe(p.env.now().Sub(p.negotiated).Seconds())
	m.peers.Inc()
	defer m.peers.Dec()
	p.log.Debug().Msg("peer connected")
	started := p.env.now()

	msgs := make(chan []byte, 16)
	readerDone := make(chan struct{})
	var readErr error
	go func() {
		defer close(readerDone)
		readErr = p.read(msgs)
	}()
	err := p.loop(msgs, readerDone)
	if err == nil { // the reader ended
		err = readErr
	}
	reason := p.disconnectReason(err)
	m.disconnects.WithLabelValues(reason).Inc()
	m.connectedFor.WithLabelValues(reason).Observe(p.env.now().Sub(started).Seconds())
	p.close(err) // unblocks the reader
	<-readerDone
	if p.timer != nil {
		p.timer.Stop()
	}
	ev := p.log.Debug()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		ev = p.log.Info().Err(err)
	}
	ev.Float64("connected_seconds", p.env.now().Sub(started).Seconds()).Int64("sent_bytes", p.stats.sentBytes).
		Int("served", p.stats.served).Msg("peer closed")
}

// disconnectReason names why an open connection ended, for
// superpeer_peer_disconnects_total: from the cause its context ended with
// or, if it had not ended, from err, the loop's or the reader's error.
func (p *peer) disconnectReason(err error) string {
	cause := context.Cause(p.ctx)
	switch {
	case errors.Is(cause, errICEFailed):
		return "ice_failed"
	case errors.Is(cause, errBrowserClosed):
		return "closed"
	case errors.Is(cause, context.Canceled):
		return "shutdown" // the swarm's context: superpeer stopping, or the stream removed
	case cause != nil:
		return "error"
	case errors.Is(err, errQueueFull), errors.Is(err, errOversized):
		return "misbehaving"
	}
	// The channel or a transport under it closed before pion reported the
	// connection's state: a browser that closes shows as EOF, an SCTP reset
	// or a closed DTLS connection, whichever comes first. A failed ICE
	// connection is reported first and closes nothing.
	return "closed"
}

// read hands the messages the session wants to the run goroutine until the
// channel closes. Each is copied out of the read buffer.
func (p *peer) read(msgs chan<- []byte) error {
	small := make([]byte, smallRead)
	for {
		buf := small
		n, _, err := p.raw.ReadDataChannel(buf)
		var big *[]byte
		if errors.Is(err, io.ErrShortBuffer) {
			// The message stays queued (pion reads it again): take a large
			// buffer for it alone.
			big = p.env.rtc.bigReads.Get().(*[]byte)
			buf = *big
			n, _, err = p.raw.ReadDataChannel(buf)
		}
		if errors.Is(err, io.ErrShortBuffer) {
			p.env.rtc.bigReads.Put(big)
			p.fault("oversized_message")
			return fmt.Errorf("message over %d bytes: %w: %w", maxIncomingMessage, errOversized, err)
		}
		if err != nil {
			if big != nil {
				p.env.rtc.bigReads.Put(big)
			}
			return err
		}
		msg, keep := buf[:n], p.sess.wants(buf[:n])
		if keep {
			msg = append([]byte(nil), msg...)
		}
		if big != nil {
			p.env.rtc.bigReads.Put(big)
		}
		if !keep {
			p.fault("unrequested_data")
			continue
		}
		select {
		case msgs <- msg:
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
}

// loop is the peer's event loop: it hands the browser's messages and the
// swarm's updates to the session, and sends what the session queued as the
// send buffer and the upload rate allow.
func (p *peer) loop(msgs <-chan []byte, readerDone <-chan struct{}) error {
	throttle := time.NewTimer(0)
	<-throttle.C
	throttled := false

	p.fresh.Store(0) // what was published before the channel opened is in start's announcement
	err := p.sess.start(p)
	for err == nil {
		for !throttled && p.dc.BufferedAmount() < p.env.rtc.bufferHigh {
			wait, more, ferr := p.sendNext()
			if ferr != nil {
				return ferr
			}
			if wait > 0 {
				throttled = true
				throttle.Reset(wait)
			}
			if !more {
				break
			}
		}
		select {
		case msg := <-msgs:
			err = p.sess.handle(msg, p)
		case <-p.published:
			fresh, queued := p.fresh.Swap(0), p.cmdsQueued
			err = p.sess.published(p)
			if fresh != 0 && p.cmdsQueued > queued {
				p.announced(time.Unix(0, fresh))
			}
		case <-p.timerC:
			p.timerC = nil
			err = p.sess.timer(p)
		case <-p.low:
		case <-throttle.C:
			throttled = false
		case <-readerDone:
			return nil // run reports the reader's error
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
		if err == nil {
			err = p.lastErr
		}
	}
	return err
}

// sendNext sends one message: a queued command when the upload allows it,
// else the next piece of the upload (its header, a chunk, its trailer). It
// reports how long to wait for the upload rate limit and whether anything
// is left to send.
func (p *peer) sendNext() (wait time.Duration, more bool, err error) {
	up := p.up
	if len(p.queue) > 0 && (up == nil || !up.Exclusive || !up.headerSent) {
		msg := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.queued -= len(msg)
		if _, err := p.raw.Write(msg); err != nil {
			return 0, false, fmt.Errorf("write command: %w", err)
		}
		p.cmdsWritten++
		for len(p.announcing) > 0 && p.announcing[0].until <= p.cmdsWritten {
			p.env.metrics.peerAnnounce.Observe(p.env.now().Sub(p.announcing[0].held).Seconds())
			p.announcing = p.announcing[:copy(p.announcing, p.announcing[1:])]
		}
		return 0, true, nil
	}
	if up == nil {
		return 0, false, nil
	}
	if !up.headerSent {
		up.headerSent = true
		return 0, true, p.writeAll(up.Header)
	}
	if up.off == len(up.Data) {
		p.up = nil
		p.stats.served++
		p.env.stats.served.Add(1)
		p.request("served")
		return 0, true, p.writeAll(up.Trailer)
	}
	n := up.Chunk(up.Data[up.off:], p.env.rtc.maxMessage)
	if !up.reserved {
		up.reserved = true
		if wait := p.env.throttle(n); wait > 0 {
			return wait, true, nil
		}
	}
	up.reserved = false
	if _, err := p.raw.Write(up.Data[up.off : up.off+n]); err != nil {
		p.request("failed")
		return 0, false, fmt.Errorf("write chunk: %w", err)
	}
	up.off += n
	p.stats.sentBytes += int64(n)
	p.env.stats.sentBytes.Add(int64(n))
	p.env.metrics.sent.Add(float64(n))
	return 0, true, nil
}

func (p *peer) writeAll(msgs [][]byte) error {
	for _, m := range msgs {
		if _, err := p.raw.Write(m); err != nil {
			return fmt.Errorf("write command: %w", err)
		}
	}
	return nil
}

// announced times the commands just queued as an announcement that brings
// news of segments held since held: superpeer_peer_announce_delay_seconds
// observes it once its last message is written.
func (p *peer) announced(held time.Time) {
	if n := len(p.announcing); n == maxPendingAnnounces {
		p.announcing[n-1].until = p.cmdsQueued
		return
	}
	p.announcing = append(p.announcing, pendingAnnounce{held: held, until: p.cmdsQueued})
}

// command queues a command's messages (outbox).
func (p *peer) command(msgs [][]byte) error {
	for _, m := range msgs {
		p.queued += len(m)
	}
	p.queue = append(p.queue, msgs...)
	p.cmdsQueued += int64(len(msgs))
	if p.queued > maxQueuedBytes {
		p.fault("queue_full")
		p.lastErr = errQueueFull
		return errQueueFull
	}
	return nil
}

// serve starts an upload (outbox).
func (p *peer) serve(u *upload) {
	if p.up != nil {
		p.request("superseded")
	}
	p.up = u
}

// current returns the upload in progress (outbox).
func (p *peer) current() *upload { return p.up }

// cancel drops the upload in progress (outbox).
func (p *peer) cancel() { p.up = nil }

// request counts a request's outcome (outbox).
func (p *peer) request(outcome string) {
	p.env.metrics.requests.WithLabelValues(outcome).Inc()
	if outcome == "absent" {
		p.env.stats.absent.Add(1)
	}
}

// fault counts the browser's misbehaviour (outbox). The reader calls it
// too: it touches only metrics.
func (p *peer) fault(reason string) { p.env.metrics.peerErrors.WithLabelValues(reason).Inc() }

// after schedules a session timer call (outbox).
func (p *peer) after(d time.Duration) {
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Stop()
		p.timer.Reset(d)
	}
	p.timerC = p.timer.C
}
