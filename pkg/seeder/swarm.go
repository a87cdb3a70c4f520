package seeder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

// maxHalfOpen bounds a swarm's connections still being set up (ICE, DTLS,
// the data channel). Offers that never complete would otherwise hold the
// swarm's slots until their connect timeout: past the bound, the oldest
// half-open connection gives way to the newest, so a real browser's offer
// is always answered.
const maxHalfOpen = 16

// signaling is how a swarm reaches the trackers: the seeder's tracker set.
type signaling interface {
	// join announces infoHash under peerID on every tracker and routes its
	// traffic to h; leave undoes it on the trackers that accepted.
	join(infoHash, peerID string, h tracker.Handler) (leave func(), err error)
	// answer sends an answer to o through the tracker it came from.
	answer(o tracker.Offer, sdp string) error
	// announceSoon brings infoHash's next announce forward on every tracker
	// (to tracker_client.min_interval after the last).
	announceSoon(infoHash string)
}

// swarmEnv is what a stream hands each of its swarms.
type swarmEnv struct {
	signaling signaling
	limits    *limits
	peer      *peerEnv
	metrics   *streamMetrics
	// spawn runs a peer goroutine that the seeder waits for on shutdown.
	spawn func(func())
	// peerID is superpeer's peer id, the same in every swarm on every
	// tracker socket, as P2P Media Loader 0.6 and 5.x browsers have one per
	// page: trackers that allow one peer id per WebSocket (wt-tracker) and
	// those that allow many both accept it, and a browser meets superpeer
	// under one name in its video and audio swarms.
	peerID string
	log    zerolog.Logger
	// minGap is tracker_client.min_interval: the soonest a swarm reaching
	// for more browsers announces again (see refillCheck).
	minGap time.Duration
	// offering is whether superpeer makes offers at all
	// (tracker_client.offers_per_announce and peers.max_pending_offers).
	offering bool
}

// maxRefillGap stands for the tracker's interval when it sent none: early
// announces that reach nobody back off until their wait reaches it.
const maxRefillGap = 2 * time.Minute

// swarm is one tracker swarm: a variant of a stream as one P2P Media Loader
// generation identifies it. It joins every tracker with its own peer id,
// answers the offers browsers send, makes offers of its own, and keeps at
// most one connection per remote peer.
type swarm struct {
	env     *swarmEnv
	gen     wire.Generation
	id      swarmIdentity
	variant string // the variant's label, for metrics and logs
	proto   protocol
	glare   bool // resolve crossed offers by the lower offerer's peer id (see glarer)
	ctx     context.Context
	peerID  string
	log     zerolog.Logger
	joined  atomic.Bool

	mu      sync.Mutex
	peers   map[string]*peer         // connected or connecting, by remote peer id
	pending map[string]*pendingOffer // our offers awaiting an answer, by offer id
	sizes   map[string]int64         // swarm size by tracker URL
	leaveFn func()                   // leaves the trackers joined
	refill  refillState
}

// refillState paces a swarm's early announces (see refillCheck).
type refillState struct {
	timer    *time.Timer   // the next check, nil when none is due
	gap      time.Duration // wait before the next check; 0: env.minGap
	interval time.Duration // the trackers' announce interval, longest reported
	admitted int           // browsers that took our offers since the last check
	reached  bool          // the last check found nobody left to reach
}

type pendingOffer struct {
	p     *peer
	timer *time.Timer
}

// newSwarm creates the swarm of one variant under one generation; it does
// not join the trackers yet (see join).
func newSwarm(ctx context.Context, env *swarmEnv, gen generation, id swarmIdentity, variant string) *swarm {
	sw := &swarm{
		env:     env,
		gen:     gen.name(),
		id:      id,
		variant: variant,
		proto:   gen.newProtocol(id),
		ctx:     ctx,
		peerID:  env.peerID,
		peers:   map[string]*peer{},
		pending: map[string]*pendingOffer{},
		sizes:   map[string]int64{},
	}
	if g, ok := gen.(glarer); ok {
		sw.glare = g.glare()
	}
	sw.log = env.log.With().Str("variant", variant).Str("generation", string(sw.gen)).Logger()
	return sw
}

// join announces the swarm on every tracker.
func (sw *swarm) join() {
	leave, err := sw.env.signaling.join(sw.id.InfoHash, sw.peerID, sw)
	sw.mu.Lock()
	sw.leaveFn = leave
	sw.mu.Unlock()
	if err != nil {
		// Another stream has this swarm already (the same manifest or
		// swarm_id twice): this one is not announced there.
		sw.log.Error().Err(err).Str("swarm", sw.id.SwarmID).Msg("cannot join swarm")
	}
}

// leave takes the swarm off every tracker it joined ("stopped").
func (sw *swarm) leave() {
	sw.mu.Lock()
	leave := sw.leaveFn
	sw.leaveFn = nil
	sw.mu.Unlock()
	if leave != nil {
		leave()
	}
}

// publish hands a new segment set to the swarm's protocol and tells every
// connected peer.
func (sw *swarm) publish(set *segmentSet) {
	sw.proto.publish(set)
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for _, p := range sw.peers {
		p.notifyPublished(set.Fresh)
	}
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

// peerCount returns the connected and connecting peers.
func (sw *swarm) peerCount() int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return len(sw.peers)
}

// admitLocked reserves a peer slot for remoteID, or reports why it cannot.
// When maxHalfOpen connections are being set up, the oldest of them is
// dropped (its slot freed) and returned for the caller to close after
// unlocking. Callers hold sw.mu.
func (sw *swarm) admitLocked(remoteID string) (string, *peer) {
	var evicted *peer
	if remoteID != sw.peerID && sw.peers[remoteID] == nil {
		halfOpen := 0
		for _, p := range sw.peers {
			if !p.isOpen.Load() {
				halfOpen++
				if evicted == nil || p.created.Before(evicted.created) {
					evicted = p
				}
			}
		}
		if halfOpen < maxHalfOpen {
			evicted = nil
		} else {
			delete(sw.peers, evicted.remoteID)
			sw.env.limits.releasePeer()
			sw.env.metrics.connections.WithLabelValues(evicted.direction, "evicted_half_open").Inc()
		}
	}
	return sw.admitReasonLocked(remoteID), evicted
}

func (sw *swarm) admitReasonLocked(remoteID string) string {
	switch {
	case sw.ctx.Err() != nil:
		return "shutdown"
	case remoteID == sw.peerID:
		return "self"
	case sw.peers[remoteID] != nil:
		return "duplicate"
	case len(sw.peers) >= sw.env.limits.maxPerSwarm:
		return "swarm_full"
	case !sw.env.limits.takePeer():
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
		sw.env.limits.releasePeer()
	}
}

// newPeer creates a peer of this swarm speaking the generation's protocol.
func (sw *swarm) newPeer(remoteID, direction string) *peer {
	l := sw.log.With().Str("direction", direction)
	if remoteID != "" {
		l = l.Str("peer", shortPeerID(remoteID))
	}
	sess := sw.proto.newSession(sessionConfig{MaxMessage: sw.env.peer.rtc.maxMessage, MaxCommandBytes: maxCommandBytes})
	return newPeer(sw.ctx, sw.env.peer, sess, remoteID, direction, l.Logger(), sw.remove)
}

// yieldLocked resolves glare: remoteID offered to us while our offer to it
// is being answered, or the other way round. When the handshake offered by
// offerer wins (the lower peer id, as 5.x browsers decide), the other,
// not yet open, connection is dropped and its slot freed, and yieldLocked
// returns it for the caller to close after unlocking. Callers hold sw.mu.
func (sw *swarm) yieldLocked(remoteID, offerer, loserDirection string) *peer {
	old := sw.peers[remoteID]
	if !sw.glare || old == nil || old.direction != loserDirection || old.isOpen.Load() {
		return nil
	}
	other := sw.peerID
	if offerer == sw.peerID {
		other = remoteID
	}
	if offerer >= other {
		return nil
	}
	delete(sw.peers, remoteID)
	sw.env.limits.releasePeer()
	sw.env.metrics.connections.WithLabelValues(loserDirection, "glare_yielded").Inc()
	return old
}

// HandleOffer answers an offer a browser sent through a tracker.
func (sw *swarm) HandleOffer(o tracker.Offer) {
	sw.mu.Lock()
	loser := sw.yieldLocked(o.PeerID, o.PeerID, "offer")
	reason, evicted := sw.admitLocked(o.PeerID)
	var p *peer
	if reason == "" {
		p = sw.newPeer(o.PeerID, "answer")
		sw.peers[o.PeerID] = p
	}
	sw.mu.Unlock()
	for _, p := range []*peer{loser, evicted} {
		if p != nil {
			p.close(errSetup)
		}
	}
	if reason != "" {
		sw.env.metrics.connections.WithLabelValues("answer", "rejected_"+reason).Inc()
		return
	}
	sw.env.spawn(func() {
		sdp, err := p.answer(o.SDP)
		if err == nil {
			if err = sw.env.signaling.answer(o, sdp); err != nil {
				err = fmt.Errorf("send answer: %w", err)
			}
		}
		if err != nil {
			p.log.Debug().Err(err).Msg("answer failed")
			sw.env.metrics.connections.WithLabelValues("answer", "setup_failed").Inc()
			p.close(errSetup)
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
	n = min(n, sw.env.limits.maxPerSwarm-sw.peerCount())
	n = sw.env.limits.takePending(n)
	if n <= 0 {
		return nil
	}
	results := make(chan *tracker.LocalOffer, n)
	for range n {
		go func() {
			o, err := sw.newOffer(ctx)
			if err != nil {
				sw.log.Debug().Err(err).Msg("create offer")
				sw.env.limits.releasePending()
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
	p := sw.newPeer("", "offer")
	sdp, err := p.offer(ctx)
	if err != nil {
		p.close(errSetup)
		return nil, err
	}
	id := tracker.NewOfferID()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.ctx.Err() != nil {
		// Shutting down: closePending may have run already.
		p.close(errSetup)
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
		po.p.close(errSetup)
		sw.env.limits.releasePending()
		sw.env.metrics.connections.WithLabelValues("offer", "unanswered").Inc()
	}
}

// HandleAnswer completes one of our offers with a browser's answer.
func (sw *swarm) HandleAnswer(a tracker.Answer) {
	sw.mu.Lock()
	po := sw.pending[a.OfferID]
	delete(sw.pending, a.OfferID)
	reason := "unknown_offer"
	var loser, evicted *peer
	if po != nil {
		po.timer.Stop()
		loser = sw.yieldLocked(a.PeerID, sw.peerID, "answer")
		if reason, evicted = sw.admitLocked(a.PeerID); reason == "" {
			po.p.setRemote(a.PeerID)
			sw.peers[a.PeerID] = po.p
			sw.refill.admitted++
		}
	}
	sw.mu.Unlock()
	for _, p := range []*peer{loser, evicted} {
		if p != nil {
			p.close(errSetup)
		}
	}
	if po == nil {
		sw.env.metrics.connections.WithLabelValues("offer", "rejected_unknown_offer").Inc()
		return
	}
	sw.env.limits.releasePending()
	if reason != "" {
		po.p.close(errSetup)
		sw.env.metrics.connections.WithLabelValues("offer", "rejected_"+reason).Inc()
		return
	}
	p := po.p
	sw.env.spawn(func() {
		err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP})
		if err != nil {
			p.log.Debug().Err(err).Msg("set remote answer")
			sw.env.metrics.connections.WithLabelValues("offer", "setup_failed").Inc()
			p.close(errSetup)
			sw.remove(p)
			return
		}
		p.run()
	})
}

// HandleAnnounceResponse records the tracker's view of the swarm.
func (sw *swarm) HandleAnnounceResponse(r tracker.AnnounceResponse) {
	if !sw.joined.Swap(true) {
		sw.log.Info().Str("tracker", r.Tracker).Str("info_hash", printableHash(sw.id.InfoHash)).Msg("joined swarm")
	}
	if r.Complete < 0 || r.Incomplete < 0 {
		return // the tracker does not count peers
	}
	sw.mu.Lock()
	sw.sizes[r.Tracker] = r.Complete + r.Incomplete
	sw.refill.interval = max(sw.refill.interval, r.Interval)
	size := sw.sizeLocked()
	sw.scheduleRefillLocked()
	if sw.refill.reached && size-1 > int64(len(sw.peers)) && sw.refill.timer != nil && sw.refill.timer.Stop() {
		// Browsers where the last check found nobody to reach: check now
		// instead of after the doubled wait. The announce it asks for still
		// keeps min_interval after this one.
		sw.refill.timer.Reset(0)
	}
	sw.mu.Unlock()
	sw.env.metrics.swarmSize.WithLabelValues(sw.variant, string(sw.gen)).Set(float64(size))
}

// sizeLocked is the swarm's size as the trackers last reported it, the
// largest over trackers (superpeer included). Callers hold sw.mu.
func (sw *swarm) sizeLocked() int64 {
	var size int64
	for _, n := range sw.sizes {
		size = max(size, n)
	}
	return size
}

// scheduleRefillLocked arms the next refill check after an announce, unless
// one is due already. Callers hold sw.mu.
func (sw *swarm) scheduleRefillLocked() {
	if !sw.env.offering || sw.env.minGap <= 0 || sw.refill.timer != nil || sw.ctx.Err() != nil {
		return
	}
	if sw.refill.gap == 0 {
		sw.refill.gap = sw.env.minGap
	}
	sw.refill.timer = time.AfterFunc(sw.refill.gap, sw.refillCheck)
}

// refillCheck decides whether the swarm announces again early. A tracker
// relays superpeer's offers to a few random browsers per announce, and
// browsers' own offers reach superpeer only as one member among many: left
// to the tracker's interval (a minute or two), superpeer would meet about
// offers_per_announce new browsers per interval, however large the swarm.
// So while the trackers count browsers superpeer is not connected to and
// they take its offers, it announces again min_interval after the last.
// Otherwise (nothing taken, or nobody left to reach) the gap doubles and
// the swarm keeps looking, less and less often, until the gap reaches the
// tracker's interval and the regular announces go on alone: browsers that
// cannot or will not connect cost the tracker little, and browsers that
// join a swarm superpeer had covered (or found empty) are still noticed
// before the next interval. A taken offer, or browsers found where there
// were none to reach, bring the gap back to min_interval; browsers found are
// checked for as soon as an announce response shows them
// (HandleAnnounceResponse).
func (sw *swarm) refillCheck() {
	sw.mu.Lock()
	sw.refill.timer = nil
	if sw.ctx.Err() != nil {
		sw.mu.Unlock()
		return
	}
	unreached := sw.sizeLocked() - 1 - int64(len(sw.peers))
	full := len(sw.peers) >= sw.env.limits.maxPerSwarm
	taken := sw.refill.admitted > 0
	sw.refill.admitted = 0
	// Found where the last check saw nobody to reach: no offer of ours
	// could have been taken in between.
	found := unreached > 0 && sw.refill.reached
	sw.refill.reached = unreached <= 0
	sw.log.Debug().Int64("unreached", unreached).Bool("taken", taken).Bool("full", full).
		Dur("gap", sw.refill.gap).Msg("early announce check")
	limit := sw.refill.interval
	if limit <= 0 {
		limit = maxRefillGap
	}
	switch {
	case full:
		sw.refill.gap = 0
		sw.mu.Unlock()
		return
	case unreached > 0 && (taken || found):
		sw.refill.gap = sw.env.minGap
	default:
		sw.refill.gap = min(2*sw.refill.gap, limit)
		if sw.refill.gap >= limit {
			// The tracker's interval comes first: no early announce, but
			// the next check still sees whether its offers are taken.
			sw.mu.Unlock()
			return
		}
	}
	sw.mu.Unlock()
	sw.env.metrics.earlyAnnounces.WithLabelValues(sw.variant, string(sw.gen)).Inc()
	sw.env.signaling.announceSoon(sw.id.InfoHash)
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

// closePending drops every unanswered offer and stops early announces
// (shutdown).
func (sw *swarm) closePending() {
	sw.mu.Lock()
	pending := sw.pending
	sw.pending = map[string]*pendingOffer{}
	if sw.refill.timer != nil {
		sw.refill.timer.Stop()
		sw.refill.timer = nil
	}
	sw.mu.Unlock()
	for _, po := range pending {
		po.timer.Stop()
		po.p.close(errSetup)
		sw.env.limits.releasePending()
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
	return printableHash(id)
}

// printableHash returns s if it is printable ASCII (2.x info hashes are
// Base64), else its hex form (0.6 info hashes are raw SHA-1 bytes).
func printableHash(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return hex.EncodeToString([]byte(s))
		}
	}
	return s
}
