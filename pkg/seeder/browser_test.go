package seeder

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/wire"
)

// testBrowser is a Go stand-in for a P2P Media Loader browser: a pion peer
// that joins a swarm through a real tracker client and speaks the binary
// peer protocol. The real-browser tests in test/interop check the same
// paths against Chromium; this one runs in every `go test`.
type testBrowser struct {
	t        testing.TB
	api      *webrtc.API
	peerID   string
	infoHash string
	offer    bool // make offers (as browsers do) or only answer

	handlers sync.WaitGroup // HandleOffer goroutines

	mu      sync.Mutex
	pending map[string]*webrtc.PeerConnection
	pcs     []*webrtc.PeerConnection
	conns   chan *browserConn
	client  *tracker.Client
}

// browserConn is one open data channel to superpeer.
type browserConn struct {
	raw    datachannel.ReadWriteCloser
	joiner wire.Joiner
	buf    []byte
}

func newTestBrowser(t testing.TB, trackerURL, infoHash string, offer bool) *testBrowser {
	return newTestBrowserOn(t, trackerURL, infoHash, offer, webrtc.NetworkTypeUDP4)
}

// newTestBrowserOn is newTestBrowser gathering candidates of one network
// type only: webrtc.NetworkTypeTCP4 stands for a browser whose network
// blocks UDP (it then offers active ICE-TCP candidates).
func newTestBrowserOn(t testing.TB, trackerURL, infoHash string, offer bool, network webrtc.NetworkType) *testBrowser {
	t.Helper()
	var se webrtc.SettingEngine
	se.DetachDataChannels()
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{network})
	b := &testBrowser{
		t:        t,
		api:      webrtc.NewAPI(webrtc.WithSettingEngine(se)),
		peerID:   "-PM0203-" + randomAlnum(12),
		infoHash: infoHash,
		offer:    offer,
		pending:  map[string]*webrtc.PeerConnection{},
		conns:    make(chan *browserConn, 4),
	}
	offers := 0
	if offer {
		offers = 5 // what browsers send
	}
	c, err := tracker.NewClient(tracker.Config{URL: trackerURL, Logger: zerolog.Nop(), OffersPerAnnounce: offers})
	require.NoError(t, err)
	_, err = c.Join(infoHash, b.peerID, b)
	require.NoError(t, err)
	b.client = c
	return b
}

func randomAlnum(n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, n)
	for i := range out {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		out[i] = alnum[k.Int64()]
	}
	return string(out)
}

// run starts the browser's tracker client. When the test ends, the client
// stops first, then any offer being answered, and only then are the
// connections closed: a connection made after the close would outlive the
// test (goleak).
func (b *testBrowser) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b.t.Cleanup(func() {
		cancel()
		<-done
		b.handlers.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, pc := range b.pcs {
			_ = pc.Close()
		}
	})
	go func() {
		defer close(done)
		_ = b.client.Run(ctx)
	}()
}

// closeAll closes the browser's peer connections, as a tab that closes.
func (b *testBrowser) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, pc := range b.pcs {
		_ = pc.Close()
	}
}

func (b *testBrowser) newPC() *webrtc.PeerConnection {
	pc, err := b.api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(b.t, err)
	b.mu.Lock()
	b.pcs = append(b.pcs, pc)
	b.mu.Unlock()
	return pc
}

func (b *testBrowser) onChannel(dc *webrtc.DataChannel) {
	dc.OnOpen(func() {
		raw, err := dc.Detach()
		if err == nil {
			b.conns <- &browserConn{raw: raw, joiner: wire.Joiner{Limit: 1 << 20}, buf: make([]byte, 1<<16)}
		}
	})
}

func gathered(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return "", errors.New("gathering timed out")
	}
	return pc.LocalDescription().SDP, nil
}

// Offers implements tracker.Handler as a browser does: a data channel per offer.
func (b *testBrowser) Offers(_ context.Context, n int) []tracker.LocalOffer {
	if !b.offer {
		return nil
	}
	var out []tracker.LocalOffer
	for range n {
		pc := b.newPC()
		dc, err := pc.CreateDataChannel(randomLabel(), nil)
		require.NoError(b.t, err)
		b.onChannel(dc)
		off, err := pc.CreateOffer(nil)
		require.NoError(b.t, err)
		sdp, err := gathered(pc, off)
		require.NoError(b.t, err)
		id := tracker.NewOfferID()
		b.mu.Lock()
		b.pending[id] = pc
		b.mu.Unlock()
		out = append(out, tracker.LocalOffer{ID: id, SDP: sdp})
	}
	return out
}

func (b *testBrowser) HandleOffer(o tracker.Offer) {
	if b.offer {
		return
	}
	b.handlers.Add(1)
	go func() {
		defer b.handlers.Done()
		pc := b.newPC()
		pc.OnDataChannel(b.onChannel)
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
			return
		}
		ans, err := pc.CreateAnswer(nil)
		if err != nil {
			return
		}
		sdp, err := gathered(pc, ans)
		if err != nil {
			return
		}
		_ = b.client.Answer(o, sdp)
	}()
}

func (b *testBrowser) HandleAnswer(a tracker.Answer) {
	b.mu.Lock()
	pc := b.pending[a.OfferID]
	delete(b.pending, a.OfferID)
	b.mu.Unlock()
	if pc != nil {
		_ = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP})
	}
}

func (b *testBrowser) HandleAnnounceResponse(tracker.AnnounceResponse) {}

// conn waits for a data channel to superpeer.
func (b *testBrowser) conn(ctx context.Context) *browserConn {
	b.t.Helper()
	select {
	case c := <-b.conns:
		return c
	case <-ctx.Done():
		b.t.Fatalf("no data channel opened: %v", ctx.Err())
		return nil
	}
}

// selectedPair returns the ICE candidate pair of the browser's connected
// peer connection (the last, if several are).
func (b *testBrowser) selectedPair() *webrtc.ICECandidatePair {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var pair *webrtc.ICECandidatePair
	for _, pc := range b.pcs {
		if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
			var err error
			pair, err = pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
			require.NoError(b.t, err)
		}
	}
	require.NotNil(b.t, pair, "no connected peer connection with a selected pair")
	return pair
}

// next reads the next message: a command, or raw data (cmd == nil).
func (c *browserConn) next() (*wire.Command, []byte, error) {
	for {
		n, err := c.raw.Read(c.buf)
		if err != nil {
			return nil, nil, err
		}
		msg := c.buf[:n]
		if !wire.IsCommandFrame(msg) {
			return nil, bytes.Clone(msg), nil
		}
		p, err := c.joiner.Push(msg)
		if err != nil {
			return nil, nil, err
		}
		if p == nil {
			continue
		}
		cmd, err := wire.DecodePayload(p)
		if err != nil {
			return nil, nil, err
		}
		return &cmd, nil, nil
	}
}

// nextCommand skips raw data and returns the next command.
func (c *browserConn) nextCommand() (wire.Command, error) {
	for {
		cmd, _, err := c.next()
		if err != nil || cmd != nil {
			if cmd == nil {
				return wire.Command{}, err
			}
			return *cmd, err
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

// download requests a segment the way a browser does and returns its bytes,
// checking the header/chunks/completed sequence.
func (c *browserConn) download(id, req, from int64) ([]byte, error) {
	if err := c.send(wire.Command{Type: wire.SegmentRequest, SegmentID: id, RequestID: req, BytesFrom: from}); err != nil {
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
				continue // chunks of a cancelled request: dropped, as the browser does
			}
			got = append(got, data...)
			if int64(len(got)) > size {
				return nil, fmt.Errorf("%d bytes, more than announced %d", len(got), size)
			}
		case cmd.Type == wire.SegmentsAnnouncement:
		case cmd.Type == wire.SegmentAbsent:
			return nil, fmt.Errorf("segment %d absent: %w", cmd.SegmentID, io.ErrUnexpectedEOF)
		case cmd.Type == wire.SegmentData:
			if cmd.SegmentID != id || cmd.RequestID != req {
				continue // for an earlier, cancelled request: the browser ignores it
			}
			if size >= 0 {
				return nil, errors.New("second SegmentData")
			}
			size = cmd.Size
		case cmd.Type == wire.SegmentDataSendingCompleted && size < 0:
			// Before our SegmentData: for an earlier request, ignored by the browser.
		case cmd.Type == wire.SegmentDataSendingCompleted:
			if cmd.SegmentID != id || cmd.RequestID != req || int64(len(got)) != size {
				return nil, fmt.Errorf("completed %d/%d after %d of %d bytes", cmd.SegmentID, cmd.RequestID, len(got), size)
			}
			return got, nil
		default:
			return nil, fmt.Errorf("unexpected %s", cmd.Type)
		}
	}
}
