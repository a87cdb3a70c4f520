package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/wire"
)

// The plain pion seed: the benchmark fixture superpeer is compared against.
// It is what one writes with pion in an afternoon: default pion settings
// (callbacks, no detached channels, no UDP mux, one ephemeral UDP socket per
// connection), the whole VOD stream loaded into memory at start, every
// (variant, generation) swarm joined through pkg/tracker's client, offers
// answered, and segments sent in the 2.x binary protocol with pkg/wire and
// the flow control of pion's data-channels-flow-control example. The only
// settings changed from pion's defaults are the ones needed to be reached on
// 127.0.0.1 at all: loopback candidates on, other interfaces off.

// Flow-control marks of pion's examples/data-channels-flow-control.
const (
	pionBufferHigh = 1 << 20
	pionBufferLow  = 512 << 10
)

type pionOptions struct {
	tracker    string
	origin     string // master playlist URL
	cpuProfile string
	memProfile string // heap profile, and goroutine profile beside it (.goroutine)
}

// pionSeed is the fixture's process state.
type pionSeed struct {
	api    *webrtc.API
	client *tracker.Client
	// data[variant][segment id] is the segment's bytes.
	data [][][]byte
	// announce[variant] is the announcement frames every peer gets on open.
	announce [][][]byte

	mu  sync.Mutex
	pcs map[*webrtc.PeerConnection]struct{}
}

// runPionSeed runs the fixture until ctx ends or stdin closes, printing
// {"pid","metrics"} once every swarm is joined.
func runPionSeed(ctx context.Context, opts pionOptions) error {
	stopProfiles, err := startProfiles(opts.cpuProfile, opts.memProfile)
	if err != nil {
		return err
	}
	defer stopProfiles()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	s := &pionSeed{pcs: map[*webrtc.PeerConnection]struct{}{}}
	master, variants, err := s.load(ctx, opts.origin)
	if err != nil {
		return err
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	s.api = webrtc.NewAPI(webrtc.WithSettingEngine(se))

	s.client, err = tracker.NewClient(tracker.Config{URL: opts.tracker, Logger: zerolog.Nop()})
	if err != nil {
		return err
	}
	swarms, err := streamSwarms(opts.origin, master, []wire.Generation{wire.Gen22, wire.Gen23})
	if err != nil {
		return err
	}
	if len(swarms) != 2*variants {
		return fmt.Errorf("%d swarms for %d variants", len(swarms), variants)
	}
	for _, sw := range swarms {
		h := &pionSwarm{s: s, variant: sw.variant}
		if _, err := s.client.Join(sw.infoHash, "-PS0100-"+randomAlnum(12), h); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Just enough of the Prometheus exposition for the load generator.
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "go_goroutines %d\ngo_memstats_heap_inuse_bytes %d\ngo_memstats_stack_inuse_bytes %d\n",
			runtime.NumGoroutine(), m.HeapInuse, m.StackInuse)
	})}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	hello, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "metrics": "http://" + ln.Addr().String() + "/metrics"})
	fmt.Println(string(hello))

	err = s.client.Run(ctx)
	s.mu.Lock()
	for pc := range s.pcs {
		_ = pc.Close()
	}
	s.mu.Unlock()
	return err
}

// load fetches the master, every media playlist and every segment.
func (s *pionSeed) load(ctx context.Context, masterURL string) ([]byte, int, error) {
	get := func(u string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("get %s: %s", u, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	master, err := get(masterURL)
	if err != nil {
		return nil, 0, err
	}
	mu, _ := url.Parse(masterURL)
	m, err := playlist.ParseMaster(master, mu)
	if err != nil {
		return nil, 0, err
	}
	for _, v := range m.Variants {
		body, err := get(v.URL)
		if err != nil {
			return nil, 0, err
		}
		vu, _ := url.Parse(v.URL)
		pl, err := playlist.ParseMedia(body, vu)
		if err != nil {
			return nil, 0, err
		}
		var segs [][]byte
		var ids []int64
		for i, sg := range pl.Segments {
			b, err := get(sg.URL)
			if err != nil {
				return nil, 0, err
			}
			segs = append(segs, b) // VOD: the id is the position (protocol-v2 §2)
			ids = append(ids, int64(i))
		}
		frames, err := wire.EncodeCommand(wire.Command{Type: wire.SegmentsAnnouncement, Loaded: ids}, 0)
		if err != nil {
			return nil, 0, err
		}
		s.data = append(s.data, segs)
		s.announce = append(s.announce, frames)
	}
	return master, len(m.Variants), nil
}

// pionSwarm answers the offers of one swarm; it makes none.
type pionSwarm struct {
	s       *pionSeed
	variant int
}

func (sw *pionSwarm) Offers(context.Context, int) []tracker.LocalOffer { return nil }
func (sw *pionSwarm) HandleAnswer(tracker.Answer)                      {}
func (sw *pionSwarm) HandleAnnounceResponse(tracker.AnnounceResponse)  {}

func (sw *pionSwarm) HandleOffer(o tracker.Offer) {
	go func() {
		if err := sw.answer(o); err != nil {
			fmt.Fprintln(os.Stderr, "pion seed: answer:", err)
		}
	}()
}

func (sw *pionSwarm) answer(o tracker.Offer) error {
	s := sw.s
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pcs[pc] = struct{}{}
	s.mu.Unlock()
	drop := func() {
		s.mu.Lock()
		delete(s.pcs, pc)
		s.mu.Unlock()
		_ = pc.Close()
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			go drop()
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { newPionPeer(sw, dc) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
		drop()
		return err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		drop()
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		drop()
		return err
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		drop()
		return errors.New("gathering timed out")
	}
	if err := s.client.Answer(o, pc.LocalDescription().SDP); err != nil {
		drop()
		return err
	}
	// A browser that never connects must not hold the connection forever.
	time.AfterFunc(30*time.Second, func() {
		if pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			drop()
		}
	})
	return nil
}

// pionPeer is one data channel: requests arrive in OnMessage, each upload
// runs on its own goroutine (a new request abandons the previous upload, as
// the browser's uploader does).
type pionPeer struct {
	sw     *pionSwarm
	dc     *webrtc.DataChannel
	joiner wire.Joiner
	low    chan struct{}

	mu   sync.Mutex
	stop chan struct{} // closes to abandon the current upload
	req  int64         // its request id
}

func newPionPeer(sw *pionSwarm, dc *webrtc.DataChannel) {
	p := &pionPeer{sw: sw, dc: dc, joiner: wire.Joiner{Limit: 1 << 20}, low: make(chan struct{}, 1)}
	dc.SetBufferedAmountLowThreshold(pionBufferLow)
	dc.OnBufferedAmountLow(func() {
		select {
		case p.low <- struct{}{}:
		default:
		}
	})
	dc.OnOpen(func() {
		for _, f := range sw.s.announce[sw.variant] {
			if err := dc.Send(f); err != nil {
				return
			}
		}
	})
	dc.OnMessage(p.onMessage)
	dc.OnClose(func() { p.cancel(-1) })
}

func (p *pionPeer) onMessage(msg webrtc.DataChannelMessage) {
	if !wire.IsCommandFrame(msg.Data) {
		return
	}
	payload, err := p.joiner.Push(msg.Data)
	if err != nil || payload == nil {
		return
	}
	cmd, err := wire.DecodePayload(payload)
	if err != nil {
		return
	}
	switch cmd.Type {
	case wire.SegmentRequest:
		p.cancel(-1)
		stop := make(chan struct{})
		p.mu.Lock()
		p.stop, p.req = stop, cmd.RequestID
		p.mu.Unlock()
		go p.upload(cmd, stop)
	case wire.CancelSegmentRequest:
		p.cancel(cmd.RequestID)
	}
}

// cancel abandons the current upload if its request id is req (any if -1).
func (p *pionPeer) cancel(req int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil && (req < 0 || req == p.req) {
		close(p.stop)
		p.stop = nil
	}
}

func (p *pionPeer) send(c wire.Command) error {
	frames, err := wire.EncodeCommand(c, 0)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := p.dc.Send(f); err != nil {
			return err
		}
	}
	return nil
}

func (p *pionPeer) upload(req wire.Command, stop <-chan struct{}) {
	segs := p.sw.s.data[p.sw.variant]
	if req.SegmentID < 0 || req.SegmentID >= int64(len(segs)) {
		_ = p.send(wire.Command{Type: wire.SegmentAbsent, SegmentID: req.SegmentID, RequestID: req.RequestID})
		return
	}
	data := segs[req.SegmentID]
	if req.BytesFrom > 0 && req.BytesFrom <= int64(len(data)) {
		data = data[req.BytesFrom:]
	}
	if err := p.send(wire.Command{Type: wire.SegmentData, SegmentID: req.SegmentID, RequestID: req.RequestID, Size: int64(len(data))}); err != nil {
		return
	}
	for len(data) > 0 {
		for p.dc.BufferedAmount() > pionBufferHigh {
			select {
			case <-stop:
				return
			case <-p.low:
			case <-time.After(time.Second): // the low event can race the check
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		n := wire.NextChunkLen(data, 0)
		if err := p.dc.Send(data[:n]); err != nil {
			return
		}
		data = data[n:]
	}
	_ = p.send(wire.Command{Type: wire.SegmentDataSendingCompleted, SegmentID: req.SegmentID, RequestID: req.RequestID})
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
