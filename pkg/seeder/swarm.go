package seeder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/tracker"
	"github.com/superpeer/superpeer/pkg/wire"
)

// offerTTL is how long an offer waits for an answer: browsers drop the
// offers they make after 50 s (bittorrent-tracker OFFER_TIMEOUT) and so do we.
const offerTTL = 50 * time.Second

// swarm is one tracker swarm: a variant of a stream as one P2P Media Loader
// generation identifies it. It joins every tracker with its own peer id,
// answers the offers browsers send, makes offers of its own, and keeps at
// most one connection per remote peer.
type swarm struct {
	st       *stream
	v        *variant
	gen      wire.Generation
	ctx      context.Context
	swarmID  string
	infoHash string
	peerID   string
	log      zerolog.Logger
	joined   atomic.Bool

	mu      sync.Mutex
	peers   map[string]*peer         // connected or connecting, by remote peer id
	pending map[string]*pendingOffer // our offers awaiting an answer, by offer id
	sizes   map[string]int64         // swarm size by tracker URL
}

type pendingOffer struct {
	p     *peer
	timer *time.Timer
}

// newSwarm derives the swarm's identity for gen (a generation the
// configuration validated) and joins it on every tracker.
func newSwarm(ctx context.Context, st *stream, v *variant, gen wire.Generation) *swarm {
	id := wire.StreamSwarmID23(st.base, wire.StreamType(v.pv.Type), streamProps(v))
	if gen == wire.Gen22 {
		id = wire.StreamSwarmID22(st.base, wire.StreamType(v.pv.Type), v.pv.Ordinal)
	}
	sw := &swarm{
		st:       st,
		v:        v,
		gen:      gen,
		ctx:      ctx,
		swarmID:  id,
		infoHash: gen.InfoHash(id),
		peerID:   newPeerID(st.s.cfg.TrackerClient.PeerIDPrefix),
		peers:    map[string]*peer{},
		pending:  map[string]*pendingOffer{},
		sizes:    map[string]int64{},
	}
	sw.log = st.log.With().Str("variant", v.label).Str("generation", string(gen)).Logger()
	for _, c := range st.s.trackers {
		if _, err := c.Join(sw.infoHash, sw.peerID, sw); err != nil {
			// Another stream has this swarm already (the same manifest or
			// swarm_id twice): this one is not announced there.
			sw.log.Error().Err(err).Str("tracker", c.URL()).Str("swarm", sw.swarmID).Msg("cannot join swarm")
		}
	}
	return sw
}

// streamProps is what P2P Media Loader's hls.js integration (2.3) feeds into
// the stream short id for a variant (p2p-media-loader-hlsjs segment-manager.ts).
func streamProps(v *variant) wire.StreamProps {
	r := v.pv.Rendition
	if v.pv.Type == "secondary" {
		return wire.StreamProps{Codecs: r.Codecs, Language: r.Language, Channels: r.Channels, Name: r.Name}
	}
	p := wire.StreamProps{Bitrate: r.Bitrate}
	if r.Bitrate == 0 {
		return p // missing metadata: only the bitrate counts
	}
	p.Codecs, p.FrameRate, p.VideoRange = r.Codecs, r.FrameRate, r.VideoRange
	p.Width, p.Height, p.HasSize = r.Width, r.Height, r.HasResolution
	return p
}

// newPeerID returns prefix followed by random alphanumerics, 20 characters
// in all, the shape P2P Media Loader uses.
func newPeerID(prefix string) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 20-len(prefix))
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return prefix + string(b)
}

// announceAll asks every connected peer to send a fresh announcement.
func (sw *swarm) announceAll() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for _, p := range sw.peers {
		p.notifyAnnounce()
	}
}

// peerCount returns the connected and connecting peers.
func (sw *swarm) peerCount() int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return len(sw.peers)
}

// admit reserves a peer slot for remoteID, or reports why it cannot.
// Callers hold sw.mu.
func (sw *swarm) admitLocked(remoteID string) string {
	switch {
	case sw.ctx.Err() != nil:
		return "shutdown"
	case remoteID == sw.peerID:
		return "self"
	case sw.peers[remoteID] != nil:
		return "duplicate"
	case len(sw.peers) >= sw.st.s.cfg.Peers.MaxPerSwarm:
		return "swarm_full"
	case !sw.st.s.takePeerSlot():
		return "full"
	}
	return ""
}

// remove forgets a finished peer and frees its slot.
func (sw *swarm) remove(p *peer) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if p.remoteID != "" && sw.peers[p.remoteID] == p {
		delete(sw.peers, p.remoteID)
		sw.st.s.releasePeerSlot()
	}
}

// HandleOffer answers an offer a browser sent through a tracker.
func (sw *swarm) HandleOffer(o tracker.Offer) {
	sw.mu.Lock()
	reason := sw.admitLocked(o.PeerID)
	var p *peer
	if reason == "" {
		p = newPeer(sw, o.PeerID, "answer")
		sw.peers[o.PeerID] = p
	}
	sw.mu.Unlock()
	if reason != "" {
		sw.st.s.metrics.connections.WithLabelValues(sw.st.cfg.ID, "answer", "rejected_"+reason).Inc()
		return
	}
	sw.st.s.spawn(func() {
		if err := p.answer(o); err != nil {
			p.log.Debug().Err(err).Msg("answer failed")
			sw.st.s.metrics.connections.WithLabelValues(sw.st.cfg.ID, "answer", "setup_failed").Inc()
			p.close()
			sw.remove(p)
			return
		}
		p.run()
	})
}

// Offers makes up to n offers for the next announce. No offers are made
// while the tracker reports nobody else in the swarm, nor beyond the peer
// and pending-offer limits.
func (sw *swarm) Offers(ctx context.Context, n int) []tracker.LocalOffer {
	if sw.aloneOnTrackers() {
		return nil
	}
	n = min(n, sw.st.s.cfg.Peers.MaxPerSwarm-sw.peerCount())
	n = sw.st.s.takePendingSlots(n)
	if n <= 0 {
		return nil
	}
	results := make(chan *tracker.LocalOffer, n)
	for range n {
		go func() {
			o, err := sw.newOffer(ctx)
			if err != nil {
				sw.log.Debug().Err(err).Msg("create offer")
				sw.st.s.releasePendingSlot()
			}
			results <- o
		}()
	}
	var offers []tracker.LocalOffer
	for range n {
		if o := <-results; o != nil {
			offers = append(offers, *o)
		}
	}
	return offers
}

// newOffer creates a peer connection with our data channel and gathers its
// candidates, as browsers do (non-trickle signalling).
func (sw *swarm) newOffer(ctx context.Context) (*tracker.LocalOffer, error) {
	p := newPeer(sw, "", "offer")
	sdp, err := p.offer(ctx)
	if err != nil {
		p.close()
		return nil, err
	}
	id := tracker.NewOfferID()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.ctx.Err() != nil {
		// Shutting down: closePending may have run already.
		p.close()
		return nil, sw.ctx.Err()
	}
	sw.pending[id] = &pendingOffer{p: p, timer: time.AfterFunc(offerTTL, func() { sw.expire(id) })}
	return &tracker.LocalOffer{ID: id, SDP: sdp}, nil
}

// expire drops an offer nobody answered.
func (sw *swarm) expire(offerID string) {
	sw.mu.Lock()
	po := sw.pending[offerID]
	delete(sw.pending, offerID)
	sw.mu.Unlock()
	if po != nil {
		po.p.close()
		sw.st.s.releasePendingSlot()
		sw.st.s.metrics.connections.WithLabelValues(sw.st.cfg.ID, "offer", "unanswered").Inc()
	}
}

// HandleAnswer completes one of our offers with a browser's answer.
func (sw *swarm) HandleAnswer(a tracker.Answer) {
	sw.mu.Lock()
	po := sw.pending[a.OfferID]
	delete(sw.pending, a.OfferID)
	reason := "unknown_offer"
	if po != nil {
		po.timer.Stop()
		if reason = sw.admitLocked(a.PeerID); reason == "" {
			po.p.remoteID = a.PeerID
			po.p.log = po.p.log.With().Str("peer", shortPeerID(a.PeerID)).Logger()
			sw.peers[a.PeerID] = po.p
		}
	}
	sw.mu.Unlock()
	if po == nil {
		sw.st.s.metrics.connections.WithLabelValues(sw.st.cfg.ID, "offer", "rejected_unknown_offer").Inc()
		return
	}
	sw.st.s.releasePendingSlot()
	if reason != "" {
		po.p.close()
		sw.st.s.metrics.connections.WithLabelValues(sw.st.cfg.ID, "offer", "rejected_"+reason).Inc()
		return
	}
	p := po.p
	sw.st.s.spawn(func() {
		err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP})
		if err != nil {
			p.log.Debug().Err(err).Msg("set remote answer")
			sw.st.s.metrics.connections.WithLabelValues(sw.st.cfg.ID, "offer", "setup_failed").Inc()
			p.close()
			sw.remove(p)
			return
		}
		p.run()
	})
}

// HandleAnnounceResponse records the tracker's view of the swarm.
func (sw *swarm) HandleAnnounceResponse(r tracker.AnnounceResponse) {
	if !sw.joined.Swap(true) {
		sw.log.Info().Str("tracker", r.Tracker).Str("info_hash", sw.infoHash).Msg("joined swarm")
	}
	if r.Complete < 0 || r.Incomplete < 0 {
		return // the tracker does not count peers
	}
	sw.mu.Lock()
	sw.sizes[r.Tracker] = r.Complete + r.Incomplete
	var size int64
	for _, n := range sw.sizes {
		size = max(size, n)
	}
	sw.mu.Unlock()
	sw.st.s.metrics.swarmSize.WithLabelValues(sw.st.cfg.ID, sw.v.label, string(sw.gen)).Set(float64(size))
}

// aloneOnTrackers reports whether every tracker that answered counts only
// us in the swarm, so offers would reach nobody.
func (sw *swarm) aloneOnTrackers() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if len(sw.sizes) == 0 {
		return false
	}
	for _, n := range sw.sizes {
		if n > 1 {
			return false
		}
	}
	return true
}

// closePending drops every unanswered offer (shutdown).
func (sw *swarm) closePending() {
	sw.mu.Lock()
	pending := sw.pending
	sw.pending = map[string]*pendingOffer{}
	sw.mu.Unlock()
	for _, po := range pending {
		po.timer.Stop()
		po.p.close()
		sw.st.s.releasePendingSlot()
	}
}

// randomLabel returns 40 hex characters, the data channel label browsers use.
func randomLabel() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// shortPeerID is a log-friendly form of a peer id: its last 8 characters,
// hex-escaped if they are not printable.
func shortPeerID(id string) string {
	if len(id) > 8 {
		id = id[len(id)-8:]
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return hex.EncodeToString([]byte(id))
		}
	}
	return id
}
