// Package trackertest provides an in-process WebTorrent tracker on 127.0.0.1
// for tests: it records every frame each connection sends and can relay
// offers and answers between its peers the way Novage/wt-tracker does
// (src/fast-tracker.ts).
//
// It is a test double for the client of package tracker, not a wrapper over
// trackerserver.Server, on purpose: it records raw frames, can refuse
// upgrades or ignore pings, and reproduces wt-tracker's harsh reactions (an
// answer to an unknown peer closes the socket) that the client must survive,
// where trackerserver.Server is lenient. It cannot import package tracker:
// the client's internal tests use it, and that would be an import cycle. For
// a production-like tracker in a test, run trackerserver.Server behind
// httptest.NewServer.
package trackertest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/superpeer/superpeer/pkg/wire"
)

// Options configures a Server.
type Options struct {
	// Relay makes the server act as a tracker: announces are answered with
	// {"action","interval","info_hash","complete","incomplete"}, offers are
	// fanned out to other peers of the swarm, answers are routed by to_peer_id
	// (stripped before forwarding), and an answer to an unknown peer closes the
	// sender's socket, as wt-tracker does.
	Relay bool
	// Interval is the "interval" the relay puts in announce responses, in
	// seconds (default 20, wt-tracker's default).
	Interval int64
	// Accept, if set, decides whether an upgrade request is accepted; a rejected
	// request gets 403.
	Accept func(r *http.Request) bool
	// IgnorePings makes the server not answer pings, like a dead peer.
	IgnorePings bool
	// OnePeerIDPerConn makes the relay close a socket on which a second peer
	// id announces, as wt-tracker does (fast-tracker.ts processAnnounce:
	// "different peer_id on the same connection").
	OnePeerIDPerConn bool
}

// Server is a loopback WebSocket tracker.
type Server struct {
	// URL is the ws:// address of the tracker.
	URL string

	opts     Options
	srv      *httptest.Server
	upgrader websocket.Upgrader
	conns    chan *Conn

	wg sync.WaitGroup // serveHTTP calls

	mu     sync.Mutex
	closed bool
	all    []*Conn
	swarms map[string]map[string]*Conn // info_hash → peer_id → connection
}

// NewServer starts a Server and closes it when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Interval == 0 {
		opts.Interval = 20
	}
	s := &Server{
		opts:     opts,
		conns:    make(chan *Conn, 64),
		swarms:   map[string]map[string]*Conn{},
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, EnableCompression: true},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = "ws" + strings.TrimPrefix(s.srv.URL, "http")
	t.Cleanup(s.Close)
	return s
}

// Close closes every connection and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := append([]*Conn(nil), s.all...)
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.srv.Close()
	s.wg.Wait()
}

// DropConnections closes every open connection, as a tracker restart
// would; the server keeps accepting new ones.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := append([]*Conn(nil), s.all...)
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Accept returns the next accepted connection, in order.
func (s *Server) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("accept: %w", ctx.Err())
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	if s.opts.Accept != nil && !s.opts.Accept(r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &Conn{Header: r.Header.Clone(), ws: ws, srv: s, done: make(chan struct{}), notify: make(chan struct{})}
	if s.opts.IgnorePings {
		ws.SetPingHandler(func(string) error { return nil })
	}
	s.mu.Lock()
	closed := s.closed
	s.all = append(s.all, c)
	s.mu.Unlock()
	if closed {
		_ = ws.Close()
	}
	select {
	case s.conns <- c:
	default: // nobody is accepting; the connection is still served
	}
	c.readLoop()
}

// Conn is one client connection to the Server.
type Conn struct {
	// Header is the header of the upgrade request.
	Header http.Header

	ws   *websocket.Conn
	srv  *Server
	done chan struct{}
	wmu  sync.Mutex

	mu     sync.Mutex
	frames [][]byte
	binary []bool
	notify chan struct{} // closed and replaced when a frame arrives
	next   int

	peerID string // the relay's first peer id seen on this socket (reader goroutine)
}

func (c *Conn) readLoop() {
	defer close(c.done)
	defer c.srv.forget(c)
	for {
		typ, b, err := c.ws.ReadMessage()
		if err != nil {
			_ = c.ws.Close()
			return
		}
		c.mu.Lock()
		c.frames = append(c.frames, b)
		c.binary = append(c.binary, typ == websocket.BinaryMessage)
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
		if c.srv.opts.Relay {
			c.srv.relay(c, b)
		}
	}
}

// Next returns the next frame the client sent on this connection.
func (c *Conn) Next(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if c.next < len(c.frames) {
			b := c.frames[c.next]
			c.next++
			c.mu.Unlock()
			return b, nil
		}
		notify := c.notify
		c.mu.Unlock()
		select {
		case <-notify:
		case <-c.done:
			c.mu.Lock()
			more := c.next < len(c.frames)
			c.mu.Unlock()
			if !more {
				return nil, fmt.Errorf("next frame: connection closed")
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("next frame: %w", ctx.Err())
		}
	}
}

// NextMessage returns the next frame, decoded.
func (c *Conn) NextMessage(ctx context.Context) (*wire.TrackerMessage, []byte, error) {
	b, err := c.Next(ctx)
	if err != nil {
		return nil, nil, err
	}
	m, err := wire.DecodeTrackerMessage(b)
	if err != nil {
		return nil, b, fmt.Errorf("decode %q: %w", b, err)
	}
	return m, b, nil
}

// Send writes a text frame to the client.
func (c *Conn) Send(b []byte) error {
	return c.write(websocket.TextMessage, b)
}

// SendBinary writes a binary frame to the client.
func (c *Conn) SendBinary(b []byte) error {
	return c.write(websocket.BinaryMessage, b)
}

// SendMessage encodes m and writes it to the client.
func (c *Conn) SendMessage(m *wire.TrackerMessage) error {
	return c.Send(m.AppendJSON(nil))
}

func (c *Conn) write(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(typ, b); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// Close drops the connection without a close handshake.
func (c *Conn) Close() {
	_ = c.ws.Close()
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} {
	return c.done
}

func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ih, peers := range s.swarms {
		for id, pc := range peers {
			if pc == c {
				delete(peers, id)
			}
		}
		if len(peers) == 0 {
			delete(s.swarms, ih)
		}
	}
}

// relay applies one frame to the tracker state, following wt-tracker's
// FastTracker.processMessage.
func (s *Server) relay(c *Conn, b []byte) {
	m, err := wire.DecodeTrackerMessage(b)
	if err != nil || m.Action != "announce" {
		c.Close()
		return
	}
	switch {
	case m.Event == "" && m.Answer != nil:
		s.mu.Lock()
		to := s.swarms[m.InfoHash][m.ToPeerID]
		s.mu.Unlock()
		if to == nil {
			c.Close() // wt-tracker: TrackerError "answer: to_peer_id is not in the swarm"
			return
		}
		fwd := *m
		fwd.ToPeerID = ""
		_ = to.SendMessage(&fwd)
	case m.Event == "stopped":
		s.mu.Lock()
		if peers := s.swarms[m.InfoHash]; peers != nil && peers[m.PeerID] == c {
			delete(peers, m.PeerID)
		}
		s.mu.Unlock()
	default:
		if s.opts.OnePeerIDPerConn {
			if c.peerID == "" {
				c.peerID = m.PeerID
			} else if c.peerID != m.PeerID {
				c.Close() // wt-tracker: "announce: different peer_id on the same connection"
				return
			}
		}
		s.mu.Lock()
		peers := s.swarms[m.InfoHash]
		if peers == nil {
			peers = map[string]*Conn{}
			s.swarms[m.InfoHash] = peers
		}
		peers[m.PeerID] = c
		var others []*Conn
		for id, pc := range peers {
			if id != m.PeerID {
				others = append(others, pc)
			}
		}
		n := int64(len(peers))
		s.mu.Unlock()
		zero, interval := int64(0), s.opts.Interval
		_ = c.SendMessage(&wire.TrackerMessage{Action: "announce", Interval: &interval, InfoHash: m.InfoHash,
			Complete: &zero, Incomplete: &n})
		for i, o := range m.Offers {
			if i >= len(others) || m.NumWant == nil || int64(i) >= *m.NumWant {
				break
			}
			offer := o.Offer
			_ = others[i].SendMessage(&wire.TrackerMessage{Action: "announce", InfoHash: m.InfoHash, OfferID: o.OfferID,
				PeerID: m.PeerID, Offer: &offer})
		}
	}
}
