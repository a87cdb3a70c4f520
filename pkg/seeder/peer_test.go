package seeder

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// recorder is a data channel that records what is written to it.
type recorder struct{ msgs []string }

func (r *recorder) Read([]byte) (int, error)                  { return 0, io.EOF }
func (r *recorder) ReadDataChannel([]byte) (int, bool, error) { return 0, false, io.EOF }
func (r *recorder) Write(b []byte) (int, error) {
	r.msgs = append(r.msgs, string(b))
	return len(b), nil
}
func (r *recorder) WriteDataChannel(b []byte, _ bool) (int, error) { return r.Write(b) }
func (r *recorder) Close() error                                   { return nil }

func testPeer(maxMessage int) (*peer, *recorder) {
	m := newMetrics(prometheus.NewRegistry()).forStream("t")
	env := &peerEnv{
		rtc:      &rtcEnv{maxMessage: maxMessage, bigReads: &sync.Pool{New: func() any { b := make([]byte, maxIncomingMessage); return &b }}},
		throttle: func(int) time.Duration { return 0 },
		metrics:  m,
		stats:    &streamStats{},
		now:      time.Now,
	}
	rec := &recorder{}
	return &peer{env: env, raw: rec}, rec
}

// drain sends everything the peer has, as its loop does with room in the
// send buffer.
func drain(t *testing.T, p *peer) {
	t.Helper()
	for range 1000 {
		_, more, err := p.sendNext()
		require.NoError(t, err)
		if !more {
			return
		}
	}
	t.Fatal("sendNext never finished")
}

// TestPeerExclusiveUpload: commands queued during an exclusive upload (0.6)
// wait for its last chunk; before its header they go first. A
// non-exclusive upload (2.x) lets them through between chunks.
func TestPeerExclusiveUpload(t *testing.T) {
	p, rec := testPeer(4)
	p.serve(&upload{Header: [][]byte{[]byte("H")}, Data: []byte("0123456789"), Chunk: func(d []byte, n int) int { return min(len(d), n) }, Exclusive: true})
	require.NoError(t, p.command([][]byte{[]byte("A")}))
	_, _, err := p.sendNext() // A: before the header
	require.NoError(t, err)
	_, _, err = p.sendNext() // the header
	require.NoError(t, err)
	require.NoError(t, p.command([][]byte{[]byte("B")}))
	drain(t, p)
	require.Equal(t, []string{"A", "H", "0123", "4567", "89", "B"}, rec.msgs)

	p, rec = testPeer(4)
	p.serve(&upload{Header: [][]byte{[]byte("H")}, Trailer: [][]byte{[]byte("T")}, Data: []byte("0123456789"), Chunk: func(d []byte, n int) int { return min(len(d), n) }})
	_, _, _ = p.sendNext()
	_, _, _ = p.sendNext()
	require.NoError(t, p.command([][]byte{[]byte("B")}))
	drain(t, p)
	require.Equal(t, []string{"H", "0123", "B", "4567", "89", "T"}, rec.msgs)
	require.Equal(t, int64(10), p.stats.sentBytes)
	require.Equal(t, 1, p.stats.served)
}

// TestPeerTimesAnnouncements: an announcement that brings news of a newly
// held segment is timed from when superpeer held it until its last message
// is written, after any exclusive upload it waits behind; a peer that falls
// behind keeps a bounded list, and the delay it reports is never shorter.
func TestPeerTimesAnnouncements(t *testing.T) {
	p, rec := testPeer(4)
	clock := time.Unix(1000, 0)
	p.env.now = func() time.Time { return clock }
	observed := func() (uint64, float64) {
		var m dto.Metric
		require.NoError(t, p.env.metrics.peerAnnounce.(prometheus.Metric).Write(&m))
		return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
	}

	p.serve(&upload{Header: [][]byte{[]byte("H")}, Data: []byte("0123456789"), Chunk: func(d []byte, n int) int { return min(len(d), n) }, Exclusive: true})
	_, _, err := p.sendNext() // the header: commands now wait for the last chunk
	require.NoError(t, err)
	require.NoError(t, p.command([][]byte{[]byte("R")})) // a reply, not news
	require.NoError(t, p.command([][]byte{[]byte("A1"), []byte("A2")}))
	p.announced(clock.Add(-10 * time.Millisecond))
	clock = clock.Add(40 * time.Millisecond)
	for range 5 { // three chunks, the end of the upload, then R
		_, _, err = p.sendNext()
		require.NoError(t, err)
	}
	require.Equal(t, []string{"H", "0123", "4567", "89", "R"}, rec.msgs)
	n, _ := observed()
	require.Zero(t, n, "not out before its last message")
	_, _, err = p.sendNext() // A1
	require.NoError(t, err)
	n, _ = observed()
	require.Zero(t, n)
	_, _, err = p.sendNext() // A2
	require.NoError(t, err)
	n, sum := observed()
	require.Equal(t, uint64(1), n)
	require.InDelta(t, 0.050, sum, 1e-9)

	// A browser that reads nothing for a while: nine announcements queued,
	// eight timed, the ninth merged into the eighth.
	start := clock
	for i := range 9 {
		require.NoError(t, p.command([][]byte{[]byte("N")}))
		p.announced(start.Add(time.Duration(i) * time.Millisecond))
	}
	require.Len(t, p.announcing, maxPendingAnnounces)
	clock = start.Add(100 * time.Millisecond)
	drain(t, p)
	n, sum = observed()
	require.Equal(t, uint64(1+maxPendingAnnounces), n)
	// 100, 99, ..., 93 ms: the eighth stands for the ninth, at 93 ms, not 92.
	require.InDelta(t, 0.050+0.100*8-0.001*(0+1+2+3+4+5+6+7), sum, 1e-9)
	require.Empty(t, p.announcing)
}

// TestPeerQueueCeiling: a browser that never reads cannot grow a peer's
// queue past maxQueuedBytes; the peer is ended and the fault counted.
func TestPeerQueueCeiling(t *testing.T) {
	p, _ := testPeer(1 << 16)
	msg := make([]byte, 64<<10)
	var err error
	for i := 0; i < maxQueuedBytes/len(msg)+1 && err == nil; i++ {
		err = p.command([][]byte{msg})
	}
	require.ErrorIs(t, err, errQueueFull)
	require.ErrorIs(t, p.lastErr, errQueueFull)
}

// TestPeerClosedDuringSetup: a peer closed before its answer is made (glare,
// eviction of a half-open peer, shutdown) makes no connection that would
// outlive it. The answer runs on its own goroutine, and close may come from
// any other.
func TestPeerClosedDuringSetup(t *testing.T) {
	cfg := DefaultConfig().WebRTC
	cfg.ICEServers = nil
	cfg.IncludeLoopback = true
	cfg.Interfaces = []string{"lo"}
	api, pcc, closer, err := newWebRTC(cfg, zerolog.Nop(), prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}), nil, newNominations())
	require.NoError(t, err)
	defer closer.Close()
	browser, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	defer browser.Close()
	_, err = browser.CreateDataChannel("x", nil)
	require.NoError(t, err)
	offer, err := browser.CreateOffer(nil)
	require.NoError(t, err)

	env := &peerEnv{rtc: &rtcEnv{api: api, config: pcc, connectTimeout: 5 * time.Second}, now: time.Now}
	p := newPeer(context.Background(), env, nil, "-PM0203-aaaaaaaaaaaa", "answer", zerolog.Nop(), func(*peer) {})
	p.close(errSetup)
	_, err = p.answer(offer.SDP)
	require.ErrorIs(t, err, errSetup, "the answer gives up with the close's cause")
	require.Nil(t, p.pc, "no connection made after the close")
}
