package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/superpeer/superpeer/pkg/wire"
)

// conn is one WebSocket connection and what runs on it.
type conn struct {
	gen   uint64
	ws    *websocket.Conn
	ctx   context.Context
	sendq chan outgoing
	wg    sync.WaitGroup // announcers

	announcers map[*swarm]*announcer // guarded by Client.mu
}

type outgoing struct {
	b    []byte
	kind string
}

// session dials the tracker and serves one connection until it fails or ctx
// ends. connected reports whether the handshake succeeded.
func (c *Client) session(ctx context.Context) (connected bool, err error) {
	dctx, cancelDial := context.WithTimeout(ctx, handshakeTimeout)
	ws, resp, err := c.dialer.DialContext(dctx, c.cfg.URL, c.header)
	cancelDial()
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		c.m.connects.WithLabelValues("error").Inc()
		if resp != nil {
			return false, fmt.Errorf("dial tracker %s: http %d: %w", c.url, resp.StatusCode, err)
		}
		return false, fmt.Errorf("dial tracker %s: %w", c.url, err)
	}
	c.m.connects.WithLabelValues("ok").Inc()
	c.m.connected.Set(1)
	defer c.m.connected.Set(0)
	c.log.Info().Msg("tracker connected")

	ws.SetReadLimit(c.cfg.MaxMessageBytes)
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cn := &conn{ws: ws, ctx: cctx, sendq: make(chan outgoing, c.cfg.SendQueue), announcers: map[*swarm]*announcer{}}

	c.mu.Lock()
	c.gen++
	cn.gen = c.gen
	c.conn = cn
	for _, s := range c.swarms {
		c.startAnnouncer(cn, s)
	}
	c.mu.Unlock()

	readDone, writeDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readDone)
		cancel(c.readLoop(cn))
	}()
	go func() {
		defer close(writeDone)
		cancel(c.writeLoop(cn))
	}()
	<-cctx.Done()

	c.mu.Lock()
	c.conn = nil
	var joined []*swarm
	if ctx.Err() != nil {
		for _, s := range c.swarms {
			joined = append(joined, s)
		}
	}
	c.mu.Unlock()
	cn.wg.Wait()
	<-writeDone
	if ctx.Err() != nil {
		c.goodbye(ws, joined)
	}
	_ = ws.Close()
	<-readDone
	err = context.Cause(cctx)
	if ctx.Err() == nil {
		c.log.Info().Err(err).Msg("tracker disconnected")
	}
	return true, err
}

// goodbye writes "stopped" for each swarm and a close frame, within
// stopTimeout. Only called once the writer has exited.
func (c *Client) goodbye(ws *websocket.Conn, swarms []*swarm) {
	deadline := time.Now().Add(stopTimeout)
	_ = ws.SetWriteDeadline(deadline)
	for _, s := range swarms {
		if err := ws.WriteMessage(websocket.TextMessage, c.stopped(s)); err != nil {
			return
		}
		c.m.message(dirOut, kindAnnounce)
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
}

func (c *Client) writeLoop(cn *conn) error {
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-cn.ctx.Done():
			return nil
		case out := <-cn.sendq:
			_ = cn.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := cn.ws.WriteMessage(websocket.TextMessage, out.b); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			c.m.message(dirOut, out.kind)
		case <-ping.C:
			if err := cn.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

func (c *Client) readLoop(cn *conn) error {
	timeout := 2 * c.cfg.PingInterval
	_ = cn.ws.SetReadDeadline(time.Now().Add(timeout))
	cn.ws.SetPongHandler(func(string) error {
		return cn.ws.SetReadDeadline(time.Now().Add(timeout))
	})
	for {
		_, r, err := cn.ws.NextReader()
		if err != nil {
			return c.readError(err)
		}
		// The read limit counts wire bytes; bound the inflated size too.
		b, err := io.ReadAll(io.LimitReader(r, c.cfg.MaxMessageBytes+1))
		if err != nil {
			return c.readError(err)
		}
		if int64(len(b)) > c.cfg.MaxMessageBytes {
			return c.readError(websocket.ErrReadLimit)
		}
		_ = cn.ws.SetReadDeadline(time.Now().Add(timeout))
		c.handle(cn, b)
	}
}

func (c *Client) readError(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		c.m.drop(dropOversized)
		return fmt.Errorf("read: %w (limit %d bytes)", ErrOversized, c.cfg.MaxMessageBytes)
	}
	return fmt.Errorf("read: %w", err)
}

// handle dispatches one incoming frame. It runs on the reader goroutine and
// never blocks on a Handler beyond the Handler's own non-blocking contract.
func (c *Client) handle(cn *conn, b []byte) {
	m, err := wire.DecodeTrackerMessage(b)
	if err != nil {
		c.m.message(dirIn, kindMalformed)
		c.warn.Warn().Err(err).Int("bytes", len(b)).Msg("malformed tracker message")
		return
	}
	kind := m.Kind()
	switch {
	case kind == wire.TrackerKindResponse && m.FailureReason != "":
		c.m.message(dirIn, kindFailure)
	case kind == wire.TrackerKindResponse:
		c.m.message(dirIn, kindResponse)
	case kind == wire.TrackerKindOffer:
		c.m.message(dirIn, kindOffer)
	case kind == wire.TrackerKindAnswer:
		c.m.message(dirIn, kindAnswer)
	case kind == wire.TrackerKindScrape || kind == wire.TrackerKindScrapeResponse:
		c.m.message(dirIn, kindScrape)
		return
	default:
		c.m.message(dirIn, kindOther)
		c.log.Debug().Str("action", m.Action).Msg("ignored tracker message")
		return
	}

	if m.InfoHash == "" && kind == wire.TrackerKindResponse && (m.FailureReason != "" || m.WarningMessage != "") {
		// bittorrent-tracker answers a request it cannot parse with a bare
		// {"failure reason"}: it names no swarm. P2PML 5.x reports such
		// failures and warnings whatever swarm they name; so do we, in the log.
		if m.FailureReason != "" {
			c.warn.Warn().Str("reason", m.FailureReason).Msg("tracker failure")
		}
		if m.WarningMessage != "" {
			c.warn.Warn().Str("warning", m.WarningMessage).Msg("tracker warning")
		}
		return
	}
	c.mu.Lock()
	s := c.swarms[m.InfoHash]
	c.mu.Unlock()
	if s == nil {
		c.m.drop(dropUnknownSwarm)
		return
	}
	if m.PeerID != "" && m.PeerID == s.peerID {
		c.m.drop(dropOwnPeer)
		return
	}
	switch kind {
	case wire.TrackerKindResponse:
		c.handleResponse(cn, s, m)
	case wire.TrackerKindOffer:
		if m.PeerID == "" || m.OfferID == "" || m.Offer.SDP == "" {
			c.m.drop(dropInvalid)
			return
		}
		s.h.HandleOffer(Offer{InfoHash: s.infoHash, PeerID: m.PeerID, OfferID: m.OfferID, SDP: m.Offer.SDP,
			Tracker: c.url, gen: cn.gen, received: c.cfg.Now()})
	case wire.TrackerKindAnswer:
		if m.PeerID == "" || m.OfferID == "" || m.Answer.SDP == "" {
			c.m.drop(dropInvalid)
			return
		}
		s.h.HandleAnswer(Answer{InfoHash: s.infoHash, PeerID: m.PeerID, OfferID: m.OfferID, SDP: m.Answer.SDP,
			Tracker: c.url})
	}
}

// handleResponse follows websocket-tracker.js _onAnnounceResponse: a failure
// stops processing; the interval is `interval || "min interval"`.
func (c *Client) handleResponse(cn *conn, s *swarm, m *wire.TrackerMessage) {
	log := c.warn.With().Str("swarm", fmt.Sprintf("%x", s.infoHash)).Logger()
	if m.FailureReason != "" {
		log.Warn().Str("reason", m.FailureReason).Msg("tracker failure")
		return
	}
	if m.WarningMessage != "" {
		log.Warn().Str("warning", m.WarningMessage).Msg("tracker warning")
	}
	var secs int64
	if m.Interval != nil {
		secs = *m.Interval
	}
	if secs == 0 && m.MinInterval != nil {
		secs = *m.MinInterval
	}
	var interval time.Duration
	if secs > 0 {
		interval = c.cfg.MinInterval
		if secs < int64(maxInterval/c.cfg.intervalUnit) {
			interval = max(interval, time.Duration(secs)*c.cfg.intervalUnit)
		} else {
			interval = maxInterval
		}
	}

	c.mu.Lock()
	if m.ResponseTrackerID != "" {
		s.trackerID = m.ResponseTrackerID
	}
	if m.MinInterval != nil && *m.MinInterval > 0 && *m.MinInterval < int64(maxInterval/c.cfg.intervalUnit) {
		s.minInterval = time.Duration(*m.MinInterval) * c.cfg.intervalUnit
	}
	var a *announcer
	if interval > 0 {
		s.interval = interval
		a = cn.announcers[s]
	}
	c.mu.Unlock()
	if a != nil {
		// Keep only the latest value in the one-slot channel.
		select {
		case <-a.interval:
		default:
		}
		select {
		case a.interval <- interval:
		default:
		}
	}

	r := AnnounceResponse{InfoHash: s.infoHash, Tracker: c.url, Interval: interval, Complete: -1, Incomplete: -1,
		Warning: m.WarningMessage}
	if m.Complete != nil {
		r.Complete = *m.Complete
	}
	if m.Incomplete != nil {
		r.Incomplete = *m.Incomplete
	}
	s.h.HandleAnnounceResponse(r)
}
