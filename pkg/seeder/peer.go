package seeder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/wire"
)

// Peer protocol limits.
const (
	// maxIncomingMessage is the read buffer for one data-channel message.
	// Browsers send at most webRtcMaxMessageSize (65535) bytes per message.
	maxIncomingMessage = 64 << 10
	// maxCommandBytes bounds a command joined from several frames: an
	// announcement of the largest decodable id list is about 66 KB.
	maxCommandBytes = 1 << 20
)

// peer is one browser connection in one swarm. Its run goroutine owns all of
// its state: pion callbacks only signal through channels or cancel its
// context, and a reader goroutine turns messages into commands.
type peer struct {
	sw        *swarm
	remoteID  string
	direction string // "answer" (the browser offered) or "offer"
	log       zerolog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once

	pc       *webrtc.PeerConnection
	opened   chan openChannel // the data channel, once open
	announce chan struct{}    // a new segment set is published
	low      chan struct{}    // the send buffer drained

	// Owned by run.
	dc        *webrtc.DataChannel
	raw       datachannel.ReadWriteCloser
	up        *upload
	focus     int64 // the id the browser plays near
	hasFocus  bool
	announced []byte // the last announcement sent, to skip repeats
	stats     peerStats
}

// openChannel is a data channel that has opened, and its detached stream.
type openChannel struct {
	dc  *webrtc.DataChannel
	raw datachannel.ReadWriteCloser
}

// upload is the segment being sent in answer to a request.
type upload struct {
	id, req  int64
	data     []byte // from the requested byte on
	off      int
	header   bool // SegmentData sent
	reserved bool // the next chunk already has its upload-rate reservation
}

type peerStats struct {
	sentBytes int64
	served    int
}

func newPeer(sw *swarm, remoteID, direction string) *peer {
	ctx, cancel := context.WithCancel(sw.ctx)
	p := &peer{
		sw:        sw,
		remoteID:  remoteID,
		direction: direction,
		ctx:       ctx,
		cancel:    cancel,
		opened:    make(chan openChannel, 1),
		announce:  make(chan struct{}, 1),
		low:       make(chan struct{}, 1),
	}
	l := sw.log.With().Str("direction", direction)
	if remoteID != "" {
		l = l.Str("peer", shortPeerID(remoteID))
	}
	p.log = l.Logger()
	return p
}

// newPeerConnection creates the pion connection and routes its events.
func (p *peer) newPeerConnection() error {
	s := p.sw.st.s
	pc, err := s.api.NewPeerConnection(s.pcConfig)
	if err != nil {
		return fmt.Errorf("new peer connection: %w", err)
	}
	p.pc = pc
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if state == webrtc.PeerConnectionStateFailed || state == webrtc.PeerConnectionStateClosed {
			p.cancel()
		}
	})
	return nil
}

// attach prepares a data channel: it is detached on open and handed to run.
// Browsers open exactly one; any further channel is ignored.
func (p *peer) attach(dc *webrtc.DataChannel) {
	s := p.sw.st.s
	dc.SetBufferedAmountLowThreshold(uint64(s.cfg.WebRTC.BufferLow))
	dc.OnBufferedAmountLow(func() { signal(p.low) })
	dc.OnOpen(func() {
		raw, err := dc.Detach()
		if err != nil {
			p.log.Debug().Err(err).Msg("detach data channel")
			p.cancel()
			return
		}
		select {
		case p.opened <- openChannel{dc: dc, raw: raw}:
		default:
			_ = raw.Close() // a second channel
		}
	})
	dc.OnClose(p.cancel)
}

// answer answers a browser's offer and sends the answer through the tracker
// it came from. Gathering completes before the answer goes out: tracker
// signalling carries exactly one SDP each way.
func (p *peer) answer(o tracker.Offer) error {
	s := p.sw.st.s
	ctx, cancel := context.WithTimeout(p.ctx, s.cfg.WebRTC.ConnectTimeout)
	defer cancel()
	if err := p.newPeerConnection(); err != nil {
		return err
	}
	var once sync.Once
	p.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		once.Do(func() { p.attach(dc) })
	})
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
		return fmt.Errorf("set remote offer: %w", err)
	}
	ans, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	sdp, err := p.gather(ctx, ans)
	if err != nil {
		return err
	}
	c := s.trackerByURL[o.Tracker]
	if c == nil {
		return fmt.Errorf("offer from unknown tracker %q", o.Tracker)
	}
	if err := c.Answer(o, sdp); err != nil {
		return fmt.Errorf("send answer: %w", err)
	}
	return nil
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

// close tears the connection down; safe to call more than once.
func (p *peer) close() {
	p.closeOnce.Do(func() {
		p.cancel()
		if p.pc != nil {
			_ = p.pc.Close()
		}
	})
}

// notifyAnnounce asks run to send a fresh announcement.
func (p *peer) notifyAnnounce() { signal(p.announce) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run waits for the data channel and then serves the browser until the
// connection ends. It owns the peer from here on and releases everything.
func (p *peer) run() {
	s := p.sw.st.s
	stream := p.sw.st.cfg.ID
	defer p.sw.remove(p)
	defer p.close()

	timer := time.NewTimer(s.cfg.WebRTC.ConnectTimeout)
	defer timer.Stop()
	select {
	case oc := <-p.opened:
		p.dc, p.raw = oc.dc, oc.raw
	case <-timer.C:
		s.metrics.connections.WithLabelValues(stream, p.direction, "timeout").Inc()
		return
	case <-p.ctx.Done():
		s.metrics.connections.WithLabelValues(stream, p.direction, "failed").Inc()
		return
	}
	s.metrics.connections.WithLabelValues(stream, p.direction, "connected").Inc()
	s.metrics.peers.WithLabelValues(stream).Inc()
	defer s.metrics.peers.WithLabelValues(stream).Dec()
	p.log.Debug().Msg("peer connected")
	started := s.now()

	cmds := make(chan wire.Command, 16)
	readerDone := make(chan struct{})
	var readErr error
	go func() {
		defer close(readerDone)
		readErr = p.read(cmds)
	}()
	err := p.serve(cmds, readerDone)
	p.close() // unblocks the reader
	<-readerDone
	if err == nil {
		err = readErr
	}
	ev := p.log.Debug()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		ev = p.log.Info().Err(err)
	}
	ev.Float64("connected_seconds", s.now().Sub(started).Seconds()).Int64("sent_bytes", p.stats.sentBytes).
		Int("served", p.stats.served).Msg("peer closed")
}

// read turns data-channel messages into commands until the channel closes.
// Raw data is dropped: superpeer never requests segments.
func (p *peer) read(cmds chan<- wire.Command) error {
	s := p.sw.st.s
	stream := p.sw.st.cfg.ID
	buf := make([]byte, maxIncomingMessage)
	j := wire.Joiner{Limit: maxCommandBytes}
	for {
		n, _, err := p.raw.ReadDataChannel(buf)
		if errors.Is(err, io.ErrShortBuffer) {
			s.metrics.peerErrors.WithLabelValues(stream, "oversized_message").Inc()
			return fmt.Errorf("message over %d bytes: %w", maxIncomingMessage, err)
		}
		if err != nil {
			return err
		}
		msg := buf[:n]
		if !wire.IsCommandFrame(msg) {
			s.metrics.peerErrors.WithLabelValues(stream, "unrequested_data").Inc()
			continue
		}
		payload, err := j.Push(msg)
		if err != nil {
			s.metrics.peerErrors.WithLabelValues(stream, "malformed_frame").Inc()
			p.log.Debug().Err(err).Msg("bad command frame")
			continue
		}
		if payload == nil {
			continue
		}
		cmd, err := wire.DecodePayload(payload)
		if err != nil {
			s.metrics.peerErrors.WithLabelValues(stream, "malformed_command").Inc()
			p.log.Debug().Err(err).Msg("bad command")
			continue
		}
		select {
		case cmds <- cmd:
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
}

// serve is the peer's event loop: it answers requests, sends chunks as the
// send buffer and the upload rate allow, and re-announces on change.
func (p *peer) serve(cmds <-chan wire.Command, readerDone <-chan struct{}) error {
	s := p.sw.st.s
	high := uint64(s.cfg.WebRTC.BufferHigh)
	throttle := time.NewTimer(0)
	<-throttle.C
	throttled := false

	if err := p.sendAnnouncement(); err != nil {
		return err
	}
	for {
		for p.up != nil && !throttled && p.dc.BufferedAmount() < high {
			wait, err := p.sendNext()
			if err != nil {
				return err
			}
			if wait > 0 {
				throttled = true
				throttle.Reset(wait)
			}
		}
		select {
		case cmd := <-cmds:
			if err := p.handle(cmd); err != nil {
				return err
			}
		case <-p.announce:
			if err := p.sendAnnouncement(); err != nil {
				return err
			}
		case <-p.low:
		case <-throttle.C:
			throttled = false
		case <-readerDone:
			return nil // run reports the reader's error
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
}

// handle acts on one command from the browser.
func (p *peer) handle(cmd wire.Command) error {
	s := p.sw.st.s
	stream := p.sw.st.cfg.ID
	switch cmd.Type {
	case wire.SegmentRequest:
		if p.up != nil {
			// A new request silently replaces the one being served, as in the browser.
			s.metrics.requests.WithLabelValues(stream, "superseded").Inc()
			p.up = nil
		}
		p.focus, p.hasFocus = cmd.SegmentID, true
		data, ok := p.sw.v.set.Load().data[cmd.SegmentID]
		if !ok || cmd.BytesFrom < 0 || cmd.BytesFrom >= int64(len(data)) {
			s.metrics.requests.WithLabelValues(stream, "absent").Inc()
			p.sw.st.stats.absent.Add(1)
			return p.send(wire.Command{Type: wire.SegmentAbsent, SegmentID: cmd.SegmentID, RequestID: cmd.RequestID})
		}
		p.up = &upload{id: cmd.SegmentID, req: cmd.RequestID, data: data[cmd.BytesFrom:]}
		// In a trimmed announcement the focus decides what is left out.
		if len(p.sw.v.set.Load().loaded) > wire.MaxIDsPerBlock {
			return p.sendAnnouncement()
		}
	case wire.CancelSegmentRequest:
		// Matched on the request id only, as the browser does.
		if p.up != nil && p.up.req == cmd.RequestID {
			s.metrics.requests.WithLabelValues(stream, "cancelled").Inc()
			p.up = nil
		}
	case wire.SegmentsAnnouncement:
		if !p.hasFocus && len(cmd.Loaded) > 0 {
			p.focus = cmd.Loaded[len(cmd.Loaded)-1]
		}
	case wire.SegmentData, wire.SegmentDataSendingCompleted, wire.SegmentAbsent:
		s.metrics.peerErrors.WithLabelValues(stream, "unexpected_command").Inc()
	}
	return nil // unknown commands are ignored, as in the browser
}

// sendNext sends the next piece of the current upload: the SegmentData
// header, one chunk, or the closing SegmentDataSendingCompleted. It returns
// how long to wait first when the upload rate limit says so.
func (p *peer) sendNext() (time.Duration, error) {
	s := p.sw.st.s
	up := p.up
	if !up.header {
		up.header = true
		return 0, p.send(wire.Command{Type: wire.SegmentData, SegmentID: up.id, RequestID: up.req, Size: int64(len(up.data))})
	}
	if up.off == len(up.data) {
		p.up = nil
		p.stats.served++
		p.sw.st.stats.served.Add(1)
		s.metrics.requests.WithLabelValues(p.sw.st.cfg.ID, "served").Inc()
		return 0, p.send(wire.Command{Type: wire.SegmentDataSendingCompleted, SegmentID: up.id, RequestID: up.req})
	}
	n := wire.NextChunkLen(up.data[up.off:], s.cfg.WebRTC.MaxMessageSize)
	if !up.reserved {
		up.reserved = true
		if wait := s.reserveUpload(n); wait > 0 {
			return wait, nil
		}
	}
	up.reserved = false
	if _, err := p.raw.Write(up.data[up.off : up.off+n]); err != nil {
		s.metrics.requests.WithLabelValues(p.sw.st.cfg.ID, "failed").Inc()
		return 0, fmt.Errorf("write chunk: %w", err)
	}
	up.off += n
	p.stats.sentBytes += int64(n)
	p.sw.st.stats.sentBytes.Add(int64(n))
	s.metrics.sentBytes.WithLabelValues(p.sw.st.cfg.ID).Add(float64(n))
	return 0, nil
}

// sendAnnouncement sends the segments held and being fetched, unless the
// browser already has exactly this announcement.
func (p *peer) sendAnnouncement() error {
	set := p.sw.v.set.Load()
	if !p.hasFocus {
		p.focus = set.defaultFocus()
	}
	payload, err := wire.AppendPayload(nil, set.announcement(p.focus))
	if err != nil {
		return fmt.Errorf("encode announcement: %w", err) // fitAnnouncement keeps within limits
	}
	if bytes.Equal(payload, p.announced) {
		return nil
	}
	p.announced = payload
	frames, err := wire.FramePayload(payload, p.sw.st.s.cfg.WebRTC.MaxMessageSize)
	if err != nil {
		return fmt.Errorf("frame announcement: %w", err)
	}
	return p.write(frames)
}

// send writes one command.
func (p *peer) send(c wire.Command) error {
	frames, err := wire.EncodeCommand(c, p.sw.st.s.cfg.WebRTC.MaxMessageSize)
	if err != nil {
		return fmt.Errorf("encode %s: %w", c.Type, err)
	}
	return p.write(frames)
}

func (p *peer) write(frames [][]byte) error {
	for _, f := range frames {
		if _, err := p.raw.Write(f); err != nil {
			return fmt.Errorf("write command: %w", err)
		}
	}
	return nil
}
