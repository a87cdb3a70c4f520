// Package udpbatch sends UDP datagrams in batches: the datagrams a
// connection queues while one batch is being sent go out together, and each
// run of equal-sized datagrams to one address leaves in a single sendmsg
// with UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18+).
//
// A WebRTC seed spends most of its time in the kernel: pion's SCTP writes
// each ~1.2 KB packet through DTLS to the socket with its own sendto, and
// every syscall walks the whole UDP/IP stack. With segmentation offload the
// stack is walked once per run of up to 64 datagrams and the packet is cut
// up at the bottom (by the NIC, or in software just before the driver).
// The same idea carries quic-go and WireGuard's throughput.
//
// Writes copy the datagram into the connection's queue and return; a small,
// fixed pool of sender goroutines, shared by every connection, drains the
// queues. A writer that finds its connection's queue full waits for the
// sender, as it would wait for a full kernel send buffer. An idle
// connection holds no buffer.
package udpbatch

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/superpeer/superpeer/pkg/udpsock"
)

const (
	// maxSegments is the most datagrams one sendmsg carries (the kernel's
	// UDP_MAX_SEGMENTS is 64 before Linux 6.9, 128 after).
	maxSegments = 64
	// maxBatchBytes bounds a GSO send: the whole run is one IP datagram
	// before it is cut up, so it must fit IP's 64 KiB length.
	maxBatchBytes = 65000
)

// Options tunes a Sender.
type Options struct {
	// Workers is the number of sender goroutines shared by every
	// connection (at least 1).
	Workers int
	// QueueBytes is how many bytes may be queued for one destination
	// before its writers wait for the sender. A socket per browser holds
	// at most this much; a socket shared by many browsers (a single UDP
	// port) holds at most this much for each, so a browser that is sent
	// to fast cannot hold up the others.
	QueueBytes int
	// DisableGSO sends each datagram with its own syscall, batched only in
	// time (for kernels or NICs that refuse UDP_SEGMENT, and for tests).
	DisableGSO bool
}

// Stats are a Sender's running totals.
type Stats struct {
	Datagrams   uint64 // datagrams handed to the kernel
	Syscalls    uint64 // sendmsg/sendto calls that carried them
	Errors      uint64 // datagrams the kernel refused (dropped, as UDP may)
	QueueWaits  uint64 // writes that waited for a full queue to drain
	QueuedBytes int64  // bytes queued now, over every connection
	GSO         bool   // whether segmentation offload is in use
}

// Sender owns the goroutines that drain every connection's queue.
type Sender struct {
	opts  Options
	ready chan *Conn
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	gso   atomic.Bool
	pool  sync.Pool // *[]byte queue buffers

	connsMu     sync.Mutex
	conns       map[*Conn]struct{} // open connections, closed with the Sender
	closedDrops uint64             // receive drops of the connections closed so far
	autoStart   bool               // start the workers with the first Wrap
	started     bool
	closed      bool

	datagrams, syscalls, errs, waits atomic.Uint64
	queued                           atomic.Int64
}

// NewSender returns a Sender. Its goroutines start with the first Wrap;
// Close stops them.
func NewSender(opts Options) *Sender {
	return newSender(opts, true)
}

// newSender builds a Sender whose goroutines start with the first Wrap if
// start (tests start them by hand, to hold queues still).
func newSender(opts Options, start bool) *Sender {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.QueueBytes < maxBatchBytes {
		opts.QueueBytes = maxBatchBytes
	}
	s := &Sender{opts: opts, ready: make(chan *Conn, 4096), done: make(chan struct{}), conns: map[*Conn]struct{}{}}
	s.gso.Store(!opts.DisableGSO && gsoSupported())
	// A queue usually holds a few datagrams (what SCTP writes while the
	// previous batch is being sent); append grows it for larger bursts.
	s.pool.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	s.autoStart = start
	return s
}

func (s *Sender) start(workers int) {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if s.closed {
		return
	}
	for range workers {
		s.wg.Add(1)
		go s.work()
	}
}

// Close stops the sender goroutines and closes every connection it wraps;
// datagrams still queued are dropped.
func (s *Sender) Close() error {
	s.once.Do(func() {
		s.connsMu.Lock()
		s.closed = true
		s.connsMu.Unlock()
		close(s.done)
	})
	s.wg.Wait()
	s.connsMu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.connsMu.Unlock()
	var errs []error
	for _, c := range conns {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stats returns the running totals.
func (s *Sender) Stats() Stats {
	return Stats{
		Datagrams:   s.datagrams.Load(),
		Syscalls:    s.syscalls.Load(),
		Errors:      s.errs.Load(),
		QueueWaits:  s.waits.Load(),
		QueuedBytes: s.queued.Load(),
		GSO:         s.gso.Load(),
	}
}

// ReceiveDrops returns how many datagrams the kernel dropped on arrival at
// the sockets s wraps, open or closed, because a receive buffer was full. It
// asks the kernel about every open socket: call it when metrics are read,
// not per packet. Where the kernel cannot tell, it returns 0.
func (s *Sender) ReceiveDrops() uint64 {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	total := s.closedDrops
	for c := range s.conns {
		if info, err := udpsock.Read(c.UDPConn); err == nil {
			total += info.Drops
		}
	}
	return total
}

// Wrap returns a connection whose writes go through s. The connection keeps
// c's reads, addresses and options; closing it closes c.
func (s *Sender) Wrap(c *net.UDPConn) *Conn {
	wc := &Conn{UDPConn: c, s: s}
	wc.cond.L = &wc.mu
	s.connsMu.Lock()
	s.conns[wc] = struct{}{}
	start := s.autoStart && !s.started
	s.started = true
	s.connsMu.Unlock()
	if start {
		s.start(s.opts.Workers)
	}
	return wc
}

func (s *Sender) work() {
	defer s.wg.Done()
	for {
		select {
		case c := <-s.ready:
			c.flush()
		case <-s.done:
			return
		}
	}
}

// ErrClosed is returned by writes to a closed Conn or after the Sender closed.
var ErrClosed = net.ErrClosed

// Conn is a UDP socket whose writes are queued and sent in batches. It
// satisfies net.PacketConn, pion's transport.UDPConn and ice's
// AddrPortReaderWriter; reads go straight to the socket.
type Conn struct {
	*net.UDPConn
	s *Sender

	mu        sync.Mutex
	cond      sync.Cond // signalled when the queue is taken by a sender
	buf       *[]byte   // queued datagrams, back to back
	q         []datagram
	first     netip.AddrPort         // where the queue's first datagram goes
	mixed     bool                   // the queue holds datagrams for several destinations
	dests     map[netip.AddrPort]int // while mixed, bytes queued per destination
	scheduled bool                   // on s.ready or being flushed
	closed    bool
}

type datagram struct {
	off, n int
	to     netip.AddrPort
}

// WriteToAddrPort queues b for addr. It returns once b is copied.
func (c *Conn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if len(b) > maxBatchBytes {
		// Larger than any batch: send it alone, now (not a WebRTC size).
		return c.UDPConn.WriteToUDPAddrPort(b, addr)
	}
	c.mu.Lock()
	for !c.closed && c.full(addr, len(b)) {
		c.s.waits.Add(1)
		c.cond.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	select {
	case <-c.s.done:
		c.mu.Unlock()
		return 0, ErrClosed
	default:
	}
	if c.buf == nil {
		c.buf = c.s.pool.Get().(*[]byte)
		c.first = addr
	} else if c.mixed || addr != c.first {
		if !c.mixed {
			c.mixed = true
			if c.dests == nil {
				c.dests = map[netip.AddrPort]int{}
			}
			c.dests[c.first] = len(*c.buf)
		}
		c.dests[addr] += len(b)
	}
	off := len(*c.buf)
	*c.buf = append(*c.buf, b...)
	c.q = append(c.q, datagram{off: off, n: len(b), to: addr})
	c.s.queued.Add(int64(len(b)))
	schedule := !c.scheduled
	c.scheduled = true
	c.mu.Unlock()
	if schedule {
		select {
		case c.s.ready <- c:
		case <-c.s.done:
		}
	}
	return len(b), nil
}

// sharedQueueFactor bounds a shared socket's whole queue, in QueueBytes:
// enough for several browsers' bursts, not a second of everyone's traffic
// waiting in user space.
const sharedQueueFactor = 4

// full reports whether n more bytes for addr must wait: addr has
// QueueBytes queued, or the socket has sharedQueueFactor times that. c.mu
// is held.
func (c *Conn) full(addr netip.AddrPort, n int) bool {
	if c.buf == nil {
		return false
	}
	limit := c.s.opts.QueueBytes
	if len(*c.buf)+n > sharedQueueFactor*limit {
		return true
	}
	switch {
	case c.mixed:
		return c.dests[addr]+n > limit
	case addr == c.first:
		return len(*c.buf)+n > limit
	}
	return false
}

// WriteToUDPAddrPort queues b for addr.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteToAddrPort(b, addr)
}

// WriteToUDP queues b for addr.
func (c *Conn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	return c.WriteToAddrPort(b, addr.AddrPort())
}

// WriteTo queues b for addr, which must be a *net.UDPAddr.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("not a UDP address")}
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// ReadFromAddrPort reads the next datagram from the socket.
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(b)
}

// Close drops what is queued and closes the socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.s.connsMu.Lock()
	if _, open := c.s.conns[c]; open {
		delete(c.s.conns, c)
		if info, err := udpsock.Read(c.UDPConn); err == nil {
			c.s.closedDrops += info.Drops
		}
	}
	c.s.connsMu.Unlock()
	return c.UDPConn.Close()
}

// flush sends everything queued, then lets writers queue again. It runs on
// one sender goroutine at a time per connection (scheduled guards it).
func (c *Conn) flush() {
	for {
		c.mu.Lock()
		buf, q, mixed := c.buf, c.q, c.mixed
		c.buf, c.q, c.mixed = nil, nil, false
		clear(c.dests) // kept while busy: a shared socket is mixed batch after batch
		if buf == nil || c.closed {
			c.scheduled = false
			c.dests = nil
			c.mu.Unlock()
			if buf != nil {
				c.s.queued.Add(-int64(len(*buf)))
				c.s.release(buf)
			}
			return
		}
		c.cond.Broadcast()
		c.mu.Unlock()
		n := int64(len(*buf))
		if mixed {
			buf = c.s.group(buf, q)
		}
		c.send(*buf, q)
		c.s.queued.Add(-n)
		c.s.release(buf)
	}
}

// group reorders a shared socket's queue so that each destination's
// datagrams are together, in the order they were written, and so form runs:
// q is sorted and its datagrams copied to a fresh buffer, which replaces
// buf (released).
func (s *Sender) group(buf *[]byte, q []datagram) *[]byte {
	slices.SortStableFunc(q, func(a, b datagram) int { return a.to.Compare(b.to) })
	out := s.pool.Get().(*[]byte)
	for i := range q {
		d := &q[i]
		off := len(*out)
		*out = append(*out, (*buf)[d.off:d.off+d.n]...)
		d.off = off
	}
	s.release(buf)
	return out
}

func (s *Sender) release(b *[]byte) {
	*b = (*b)[:0]
	s.pool.Put(b)
}

// send hands q's datagrams, stored back to back in buf, to the kernel: a
// run of datagrams to one address, all of one size but the last, which may
// be shorter, leaves in one GSO sendmsg.
func (c *Conn) send(buf []byte, q []datagram) {
	s := c.s
	for i := 0; i < len(q); {
		j := i + 1
		if s.gso.Load() {
			size, total := q[i].n, q[i].n
			for j < len(q) && j-i < maxSegments && q[j].to == q[i].to &&
				q[j-1].n == size && q[j].n <= size && total+q[j].n <= maxBatchBytes {
				total += q[j].n
				j++
			}
		}
		first, last := q[i], q[j-1]
		var err error
		if j-i == 1 {
			_, err = c.UDPConn.WriteToUDPAddrPort(buf[first.off:first.off+first.n], first.to)
		} else if err = c.writeGSO(buf[first.off:last.off+last.n], first.n, first.to); err != nil {
			if gsoUnsupported(err) {
				// The device cannot checksum segments: one by one from now on.
				s.gso.Store(false)
			}
			// This run one by one, whatever refused it.
			for k := i; k < j; k++ {
				_, err = c.UDPConn.WriteToUDPAddrPort(buf[q[k].off:q[k].off+q[k].n], q[k].to)
				s.count(err, 1)
			}
			i = j
			continue
		}
		s.count(err, j-i)
		i = j
	}
}

// count records one send call of n datagrams. A socket closed under a
// batch (its browser gone) is not the network refusing: not an error.
func (s *Sender) count(err error, n int) {
	if errors.Is(err, net.ErrClosed) {
		return
	}
	s.syscalls.Add(1)
	if err != nil {
		s.errs.Add(uint64(n))
	} else {
		s.datagrams.Add(uint64(n))
	}
}
