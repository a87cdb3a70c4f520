package udpbatch

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// listen opens a UDP socket on 127.0.0.1 with a receive buffer large
// enough for the tests' bursts.
func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	_ = c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// payload is datagram seq of n bytes: the sequence number, then a pattern
// that depends on it, so a datagram cut or glued at the wrong place shows.
func payload(seq, n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint32(b, uint32(seq))
	for i := 4; i < n; i++ {
		b[i] = byte(seq*7 + i)
	}
	return b
}

// receive reads want datagrams from c and checks each against payload,
// in order.
func receive(t *testing.T, c *net.UDPConn, want []int, seqs []int) {
	t.Helper()
	buf := make([]byte, 65536)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	for i, n := range want {
		got, _, err := c.ReadFromUDPAddrPort(buf)
		require.NoError(t, err, "datagram %d of %d", i, len(want))
		require.Equal(t, n, got, "size of datagram %d", i)
		require.Equal(t, payload(seqs[i], n), buf[:got], "datagram %d", i)
	}
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestSendRuns hands one queue to send and checks what the kernel was
// given: each run of datagrams to one address, of one size but a shorter
// last, is one system call with segmentation offload, and the receivers get
// every datagram intact and in order, cut where it was written.
func TestSendRuns(t *testing.T) {
	if !gsoSupported() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	a, b := listen(t), listen(t)
	s := newSender(Options{}, false)
	defer s.Close()
	c := s.Wrap(listen(t))

	type w struct {
		to *net.UDPConn
		n  int
	}
	var writes []w
	add := func(to *net.UDPConn, sizes ...int) {
		for _, n := range sizes {
			writes = append(writes, w{to, n})
		}
	}
	add(a, 1200, 1200, 1200, 300) // run 1: three full, a shorter last
	add(a, 1200, 1200)            // run 2: a larger one after a shorter ends a run
	add(b, 1200, 1200)            // run 3: another address
	add(a, 500, 900)              // runs 4, 5: a larger one cannot follow a shorter
	for range maxSegments + 3 {   // runs 6, 7: at most maxSegments per call
		add(b, 1000)
	}
	const runs = 7

	var buf []byte
	var q []datagram
	var wantA, wantB, seqA, seqB []int
	for seq, x := range writes {
		q = append(q, datagram{off: len(buf), n: x.n, to: addrOf(x.to)})
		buf = append(buf, payload(seq, x.n)...)
		if x.to == a {
			wantA, seqA = append(wantA, x.n), append(seqA, seq)
		} else {
			wantB, seqB = append(wantB, x.n), append(seqB, seq)
		}
	}
	c.send(buf, q)

	st := s.Stats()
	require.Equal(t, uint64(len(writes)), st.Datagrams)
	require.Equal(t, uint64(runs), st.Syscalls)
	require.Zero(t, st.Errors)
	receive(t, a, wantA, seqA)
	receive(t, b, wantB, seqB)
}

// TestWriteDelivers writes through a running sender, as pion does, with
// and without segmentation offload: every datagram arrives intact and in
// order, each address gets its own, and nothing stays queued.
func TestWriteDelivers(t *testing.T) {
	for _, gso := range []bool{true, false} {
		t.Run(map[bool]string{true: "gso", false: "plain"}[gso], func(t *testing.T) {
			if gso && !gsoSupported() {
				t.Skip("kernel without UDP_SEGMENT")
			}
			a, b := listen(t), listen(t)
			s := NewSender(Options{Workers: 2, DisableGSO: !gso})
			defer s.Close()
			require.Equal(t, gso, s.Stats().GSO)
			c := s.Wrap(listen(t))

			const n = 3000
			var wantA, wantB, seqA, seqB []int
			for seq := range n {
				size := 1200
				if seq%7 == 6 {
					size = 100 + seq%900
				}
				to := a
				if (seq/50)%2 == 1 {
					to = b
				}
				var err error
				switch seq % 3 { // every write method pion may use
				case 0:
					_, err = c.WriteToAddrPort(payload(seq, size), addrOf(to))
				case 1:
					_, err = c.WriteTo(payload(seq, size), to.LocalAddr())
				case 2:
					_, err = c.WriteToUDP(payload(seq, size), to.LocalAddr().(*net.UDPAddr))
				}
				require.NoError(t, err)
				if to == a {
					wantA, seqA = append(wantA, size), append(seqA, seq)
				} else {
					wantB, seqB = append(wantB, size), append(seqB, seq)
				}
				if seq%200 == 199 {
					// Let the receivers keep up: loopback drops what
					// their buffers cannot hold.
					require.Eventually(t, func() bool { return s.Stats().QueuedBytes == 0 }, 5*time.Second, time.Millisecond)
				}
			}
			// Read as they arrive, in two goroutines (one per receiver).
			errs := make(chan error, 2)
			for _, r := range []struct {
				c          *net.UDPConn
				want, seqs []int
			}{{a, wantA, seqA}, {b, wantB, seqB}} {
				go func() {
					buf := make([]byte, 65536)
					_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
					for i, size := range r.want {
						got, _, err := r.c.ReadFromUDPAddrPort(buf)
						if err != nil {
							errs <- err
							return
						}
						if got != size || string(buf[:got]) != string(payload(r.seqs[i], size)) {
							errs <- errors.New("datagram differs from what was written")
							return
						}
					}
					errs <- nil
				}()
			}
			require.NoError(t, <-errs)
			require.NoError(t, <-errs)
			st := s.Stats()
			require.Equal(t, uint64(n), st.Datagrams)
			require.Zero(t, st.Errors)
			require.Zero(t, st.QueuedBytes)
			require.LessOrEqual(t, st.Syscalls, st.Datagrams)
			if !gso {
				require.Equal(t, st.Datagrams, st.Syscalls)
			}
		})
	}
}

// TestQueueBound: with no sender running, a writer that fills its
// socket's queue waits (counted), and closing the connection releases it
// with an error; what was queued is dropped, not leaked.
func TestQueueBound(t *testing.T) {
	s := newSender(Options{QueueBytes: maxBatchBytes}, false)
	defer s.Close()
	to := addrOf(listen(t))
	c := s.Wrap(listen(t))
	written := 0
	for written+1200 <= maxBatchBytes {
		_, err := c.WriteToAddrPort(payload(0, 1200), to)
		require.NoError(t, err)
		written += 1200
	}
	require.Equal(t, int64(written), s.Stats().QueuedBytes)

	done := make(chan error, 1)
	go func() {
		_, err := c.WriteToAddrPort(payload(1, 1200), to)
		done <- err
	}()
	require.Eventually(t, func() bool { return s.Stats().QueueWaits == 1 }, 5*time.Second, time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("write past the queue limit returned %v instead of waiting", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)
	_, err := c.WriteToAddrPort(payload(2, 1200), to)
	require.ErrorIs(t, err, net.ErrClosed)

	// The queue goes back to the pool when a sender next looks at it.
	c.flush()
	require.Zero(t, s.Stats().QueuedBytes)
}

// TestQueueDrains: a writer waiting on a full queue goes on once the
// sender takes the queue.
func TestQueueDrains(t *testing.T) {
	r := listen(t)
	s := newSender(Options{QueueBytes: maxBatchBytes}, false)
	defer s.Close()
	c := s.Wrap(listen(t))
	n := 0
	for ; (n+1)*1200 <= maxBatchBytes; n++ {
		_, err := c.WriteToAddrPort(payload(n, 1200), addrOf(r))
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.WriteToAddrPort(payload(n, 1200), addrOf(r))
		done <- err
	}()
	require.Eventually(t, func() bool { return s.Stats().QueueWaits == 1 }, 5*time.Second, time.Millisecond)
	s.start(1)
	require.NoError(t, <-done)
	sizes, seqs := make([]int, n+1), make([]int, n+1)
	for i := range sizes {
		sizes[i], seqs[i] = 1200, i
	}
	receive(t, r, sizes, seqs)
}

// TestClosedUnderBatch: a socket closed while its batch waits (a browser
// gone) drops the batch without counting send errors, which are for the
// network refusing datagrams.
func TestClosedUnderBatch(t *testing.T) {
	s := newSender(Options{}, false)
	defer s.Close()
	to := addrOf(listen(t))
	c := s.Wrap(listen(t))
	for i := range 3 {
		_, err := c.WriteToAddrPort(payload(i, 1200), to)
		require.NoError(t, err)
	}
	require.NoError(t, c.UDPConn.Close())
	c.flush()
	st := s.Stats()
	require.Zero(t, st.Errors)
	require.Zero(t, st.Datagrams)
	require.Zero(t, st.QueuedBytes)
}

// TestSenderCloseClosesConns: closing the sender closes the sockets it
// wrapped, so nothing waits on a sender that is gone.
func TestSenderCloseClosesConns(t *testing.T) {
	s := NewSender(Options{})
	c := s.Wrap(listen(t))
	require.NoError(t, s.Close())
	_, err := c.WriteToAddrPort([]byte("x"), addrOf(listen(t)))
	require.ErrorIs(t, err, net.ErrClosed)
	_, _, err = c.ReadFromAddrPort(make([]byte, 10))
	require.ErrorIs(t, err, net.ErrClosed)
}

// BenchmarkSend compares one sendto per datagram (what pion does) with
// the batch sender, without and with segmentation offload, writing bursts
// of 16 × 1,200-byte datagrams to a loopback socket that reads nothing
// (the kernel drops them at its full buffer, the same way in every mode).
// cpu-ns/datagram is the process's CPU time, sender goroutines included.
func BenchmarkSend(b *testing.B) {
	const size, burst = 1200, 16
	for _, mode := range []string{"sendto", "batched", "gso"} {
		b.Run(mode, func(b *testing.B) {
			to := addrOf(listen(b))
			raw := listen(b)
			var write func([]byte) error
			var s *Sender
			if mode == "sendto" {
				write = func(p []byte) error { _, err := raw.WriteToUDPAddrPort(p, to); return err }
			} else {
				if mode == "gso" && !gsoSupported() {
					b.Skip("kernel without UDP_SEGMENT")
				}
				s = NewSender(Options{Workers: 1, DisableGSO: mode != "gso"})
				defer s.Close()
				c := s.Wrap(raw)
				write = func(p []byte) error { _, err := c.WriteToAddrPort(p, to); return err }
			}
			p := payload(1, size)
			b.SetBytes(size)
			cpu0 := processCPU(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := write(p); err != nil {
					b.Fatal(err)
				}
				if i%burst == burst-1 && s != nil {
					// A burst at a time, as SCTP writes them.
					for s.Stats().QueuedBytes > 0 {
						runtime.Gosched()
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/datagram")
			if s != nil {
				st := s.Stats()
				b.ReportMetric(float64(st.Datagrams)/float64(max(st.Syscalls, 1)), "datagrams/call")
			}
		})
	}
}

// processCPU is the CPU time this process has used, in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// TestReceiveDrops: datagrams dropped at a wrapped socket's full receive
// buffer are counted, and stay counted after the socket closes.
func TestReceiveDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_MEMINFO is Linux's")
	}
	s := NewSender(Options{})
	defer s.Close()
	r := listen(t)
	require.NoError(t, r.SetReadBuffer(4096)) // a few datagrams
	c := s.Wrap(r)
	require.Zero(t, s.ReceiveDrops())
	w := listen(t)
	for range 200 {
		_, err := w.WriteToUDPAddrPort(payload(0, 1000), addrOf(r))
		require.NoError(t, err)
	}
	drops := s.ReceiveDrops()
	require.Positive(t, drops)
	require.Less(t, drops, uint64(200))
	require.NoError(t, c.Close())
	require.Equal(t, drops, s.ReceiveDrops())
}

// TestSharedSocketRuns: on a socket that serves many browsers (one UDP
// port), datagrams written interleaved leave grouped by destination, each
// destination's in the order written, so that they still form runs.
func TestSharedSocketRuns(t *testing.T) {
	if !gsoSupported() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	a, b := listen(t), listen(t)
	s := newSender(Options{}, false)
	defer s.Close()
	c := s.Wrap(listen(t))
	var wantA, wantB, seqA, seqB []int
	for seq := range 40 {
		to, size := a, 1200
		if seq%2 == 1 {
			to, size = b, 1100
		}
		_, err := c.WriteToAddrPort(payload(seq, size), addrOf(to))
		require.NoError(t, err)
		if to == a {
			wantA, seqA = append(wantA, size), append(seqA, seq)
		} else {
			wantB, seqB = append(wantB, size), append(seqB, seq)
		}
	}
	c.flush()
	st := s.Stats()
	require.Equal(t, uint64(40), st.Datagrams)
	require.Equal(t, uint64(2), st.Syscalls, "one run per destination")
	require.Zero(t, st.QueuedBytes)
	receive(t, a, wantA, seqA)
	receive(t, b, wantB, seqB)
}

// TestQueueBoundPerDestination: on a shared socket each destination has its
// own QueueBytes, so a browser that is sent to fast does not hold up the
// others; the socket as a whole holds at most sharedQueueFactor times that.
func TestQueueBoundPerDestination(t *testing.T) {
	const limit = 2 * maxBatchBytes
	s := newSender(Options{QueueBytes: limit}, false)
	defer s.Close()
	c := s.Wrap(listen(t))
	fill := func(to netip.AddrPort) {
		for n := 0; n+1000 <= limit; n += 1000 {
			_, err := c.WriteToAddrPort(payload(0, 1000), to)
			require.NoError(t, err)
		}
	}
	write := func(to netip.AddrPort) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := c.WriteToAddrPort(payload(1, 1000), to)
			done <- err
		}()
		return done
	}
	dests := make([]netip.AddrPort, sharedQueueFactor+1)
	for i := range dests {
		dests[i] = addrOf(listen(t))
	}

	fill(dests[0])
	waiting := write(dests[0])
	require.Eventually(t, func() bool { return s.Stats().QueueWaits == 1 }, 5*time.Second, time.Millisecond)
	// Another browser's datagrams still go in, up to the socket's bound.
	for _, d := range dests[1:sharedQueueFactor] {
		fill(d)
	}
	require.Equal(t, uint64(1), s.Stats().QueueWaits)
	over := write(dests[sharedQueueFactor])
	require.Eventually(t, func() bool { return s.Stats().QueueWaits == 2 }, 5*time.Second, time.Millisecond)

	s.start(1)
	require.NoError(t, <-waiting)
	require.NoError(t, <-over)
	require.Eventually(t, func() bool { return s.Stats().QueuedBytes == 0 }, 5*time.Second, time.Millisecond)
}
