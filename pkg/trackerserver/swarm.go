package trackerserver

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/superpeer/superpeer/pkg/wire"
)

// This file is the Server's swarm state and message handling, after
// Novage/wt-tracker src/fast-tracker.ts: peers are keyed by peer_id across
// swarms, a peer may be in several swarms, a connection may carry several
// peers. Everything here is guarded by Server.mu; JSON work is done by the
// callers outside the lock.
//
// Memory per membership: one *tpeer in the swarm's slice (8 B) plus a 24 B
// membership in the peer; per peer id a 64 B peer and a map entry.

// id20 is an info hash or peer id: 20 bytes, compared by value (no string
// header and no allocation as a map key).
type id20 [20]byte

// tswarm is one info hash on the server.
type tswarm struct {
	ih id20
	// members holds the trusted members (seeds) first, members[:seeds],
	// then everyone else in arbitrary order (swap-remove);
	// membership.idx points here.
	members  []*tpeer
	seeds    int // trusted members, at the front of members
	complete int // members whose membership is completed
}

// swap exchanges members i and j and their memberships' indexes.
func (sw *tswarm) swap(i, j int) {
	if i == j {
		return
	}
	a, b := sw.members[i], sw.members[j]
	sw.members[i], sw.members[j] = b, a
	a.find(sw).idx, b.find(sw).idx = int32(j), int32(i)
}

// membership is one peer in one swarm.
type membership struct {
	sw        *tswarm
	last      int64 // unix nanos (Config.Now) of the latest announce
	idx       int32 // position in sw.members
	completed bool  // announced event "completed" or left 0
}

// tpeer is one peer id, on one connection, in one or more swarms.
type tpeer struct {
	id   id20
	c    *sconn
	next *tpeer // next peer on c
	ms   []membership
}

func (p *tpeer) find(sw *tswarm) *membership {
	for i := range p.ms {
		if p.ms[i].sw == sw {
			return &p.ms[i]
		}
	}
	return nil
}

// Failure reasons sent to clients, as bittorrent-tracker words them where it
// has the same check (lib/server/parse-websocket.js).
const (
	failInvalidInfoHash = "invalid info_hash"
	failInvalidPeerID   = "invalid peer_id"
	failInvalidToPeerID = "invalid `to_peer_id` (required with `answer`)"
	failInvalidAnswer   = "invalid answer"
	failMalformed       = "malformed message"
	failUnknownAction   = "invalid action"
	failUnknownEvent    = "invalid event"
	failSwarmFull       = "swarm is full"
	failTooManySwarms   = "too many swarms"
	failConnLimit       = "too many swarms on this connection"
	failScrapeAll       = "scrape needs info_hash"
	failPeerIDInUse     = "peer_id in use by another connection"
)

// handle decodes and applies one frame. It returns false for an invalid
// message (counted as a strike against the connection).
//
// Policy on bad input: the socket is kept and, where the client can use it, a
// "failure reason" is sent. A browser multiplexes every swarm of the page over
// one socket, so closing it for one bad or stale message (as wt-tracker does
// on any TrackerError) would cut the peer off from all its swarms and send it
// into the client's reconnect backoff (10 s · 2^n plus up to 5 min jitter).
// Only frames over MaxMessageBytes and maxStrikes consecutive invalid messages
// close the socket.
func (s *Server) handle(c *sconn, b []byte, m *wire.RawTrackerMessage, now int64) bool {
	if err := wire.DecodeRawTrackerMessage(b, m); err != nil {
		s.m.in[skMalformed].Inc()
		s.m.drop[dropMalformed].Inc()
		s.log.Debug().Err(err).Int("bytes", len(b)).Msg("malformed tracker message")
		s.fail(c, "", "", failMalformed)
		return false
	}
	switch m.Action {
	case wire.TrackerActionAnnounce:
		switch {
		case m.Event == wire.TrackerEventNone && m.HasAnswer:
			s.m.in[skAnswer].Inc()
			return s.answer(c, m)
		case m.Event == wire.TrackerEventStopped:
			s.m.in[skAnnounce].Inc()
			return s.stop(c, m)
		case m.Event == wire.TrackerEventOther:
			s.m.in[skAnnounce].Inc()
			s.m.drop[dropUnsupported].Inc()
			s.fail(c, "announce", m.InfoHash.String(), failUnknownEvent)
			return false
		default:
			// "update" and "paused" are bittorrent-tracker's names for a
			// plain announce; wt-tracker refuses them.
			s.m.in[skAnnounce].Inc()
			return s.announce(c, m, now)
		}
	case wire.TrackerActionScrape:
		s.m.in[skScrape].Inc()
		return s.scrape(c, b)
	default:
		s.m.in[skOther].Inc()
		s.m.drop[dropUnsupported].Inc()
		s.fail(c, "", "", failUnknownAction)
		return false
	}
}

// fail sends {"action","failure reason","info_hash"}: the member order
// bittorrent-tracker uses. The info hash is included only when it is valid,
// because the browser ignores replies for other info hashes anyway.
func (s *Server) fail(c *sconn, action, infoHash, reason string) {
	if len(infoHash) != 20 {
		infoHash = ""
	}
	m := wire.TrackerMessage{Action: action, FailureReason: reason, InfoHash: infoHash}
	bp := s.getBuf()
	*bp = m.AppendJSON(*bp)
	c.enqueue(bp, skFailure)
}

// relay is one offer to forward after the lock is released.
type relay struct {
	to    *sconn
	offer int // index in the announce's offers
}

// relays picks the members that receive p's offers: min(others, want)
// distinct members other than p, the seeds first, then a window from a
// random start over everyone else.
//
// Seeds first is where this tracker differs from wt-tracker and
// bittorrent-tracker, which pick every receiver at random: in a swarm of
// hundreds a browser's few offers would reach the seed only by chance, and
// a browser that missed it would wait for its next announce (a minute or
// more in P2P Media Loader) or for the seed's own offers. Here the seed
// answers a browser's first announce, and the browser spends one offer on
// it.
func (sw *tswarm) relays(p *tpeer, want int) []relay {
	others := len(sw.members) - 1
	if want <= 0 || others <= 0 {
		return nil
	}
	n := min(others, want)
	relays := make([]relay, 0, n)
	add := func(q *tpeer) {
		if q != p && len(relays) < n {
			relays = append(relays, relay{to: q.c, offer: len(relays)})
		}
	}
	if n == others {
		for _, q := range sw.members {
			add(q)
		}
		return relays
	}
	for _, q := range sw.members[:sw.seeds] {
		add(q)
	}
	// The rest hold at least n - len(relays) members besides p: n < others.
	if rest := len(sw.members) - sw.seeds; rest > 0 {
		for i, k := rand.IntN(rest), 0; len(relays) < n && k < rest; k++ {
			add(sw.members[sw.seeds+i])
			if i++; i == rest {
				i = 0
			}
		}
	}
	return relays
}

// announce handles a started, periodic or completed announce: membership,
// response, offers (wt-tracker processAnnounce and sendOffersToPeers).
func (s *Server) announce(c *sconn, m *wire.RawTrackerMessage, now int64) bool {
	if !m.InfoHash.Valid() {
		s.m.drop[dropInvalid].Inc()
		s.fail(c, "announce", "", failInvalidInfoHash)
		return false
	}
	if !m.PeerID.Valid() {
		s.m.drop[dropInvalid].Inc()
		s.fail(c, "announce", m.InfoHash.String(), failInvalidPeerID)
		return false
	}
	// Offers the tracker could not forward intact are left out (wt-tracker
	// closes the socket on them).
	offers := m.Offers[:0] // filtered in place
	for _, o := range m.Offers {
		if o.OfferID == nil || emptyLit(o.SDP) {
			s.m.drop[dropInvalid].Inc()
			continue
		}
		offers = append(offers, o)
	}
	// Receivers: min(others, offers, MaxOffers, numwant). Without numwant
	// every offer is used, as bittorrent-tracker does (wt-tracker then sends
	// none).
	want := min(len(offers), s.cfg.MaxOffers)
	if m.HasNumWant {
		want = int(min(int64(want), max(0, m.NumWant)))
	}
	completed := m.Event == wire.TrackerEventCompleted || (m.HasLeft && m.Left == 0)
	ih, pid := m.InfoHash.Bytes, m.PeerID.Bytes

	s.mu.Lock()
	if conflict, holder := s.claim(c, pid); conflict != "" {
		s.mu.Unlock()
		s.refuseClaim(c, holder, conflict, m.InfoHash.String())
		return false
	}
	sw, p, failure, drop := s.join(c, ih, pid, now, completed)
	if failure != "" {
		s.mu.Unlock()
		s.m.drop[drop].Inc()
		s.fail(c, "announce", m.InfoHash.String(), failure)
		return true // a limit, not the client's fault
	}
	complete, incomplete := int64(sw.complete), int64(len(sw.members)-sw.complete)
	relays := sw.relays(p, want)
	s.mu.Unlock()

	// {"action":"announce","interval":N,"info_hash":B,"complete":N,"incomplete":N}
	// (wt-tracker processAnnounce).
	bp := s.getBuf()
	b := append(*bp, `{"action":"announce","interval":`...)
	b = strconv.AppendInt(b, s.interval, 10)
	b = append(b, `,"info_hash":`...)
	b = wire.AppendJSONString(b, string(ih[:]), true)
	b = append(b, `,"complete":`...)
	b = strconv.AppendInt(b, complete, 10)
	b = append(b, `,"incomplete":`...)
	b = strconv.AppendInt(b, incomplete, 10)
	*bp = append(b, '}')
	c.enqueue(bp, skResponse)

	if len(relays) == 0 {
		return true
	}
	// {"action":"announce","info_hash":B,"offer_id":B,"peer_id":B,"offer":{"type":"offer","sdp":S}}
	// (wt-tracker getSendOfferJson); offer_id and sdp are copied as received.
	var idsBuf [128]byte
	ihJSON := wire.AppendJSONString(idsBuf[:0], string(ih[:]), true)
	pidJSON := wire.AppendJSONString(ihJSON[len(ihJSON):], string(pid[:]), true)
	for _, r := range relays {
		o := &offers[r.offer]
		bp := s.getBuf()
		b := append(*bp, `{"action":"announce","info_hash":`...)
		b = append(b, ihJSON...)
		b = append(b, `,"offer_id":`...)
		b = append(b, o.OfferID...)
		b = append(b, `,"peer_id":`...)
		b = append(b, pidJSON...)
		b = append(b, `,"offer":{"type":"offer","sdp":`...)
		b = append(b, o.SDP...)
		*bp = append(b, '}', '}')
		s.m.relayedOffer.Inc()
		r.to.enqueue(bp, skOffer)
	}
	return true
}

// claim decides whether c may use pid, which another connection may hold. A
// peer id is owned by the connection that announced it first, until that
// connection closes or stops it: an offer or answer addressed to the id goes
// to that socket, so whoever took the id over would receive them (every
// browser a seed offers to learns the seed's id). So a newcomer is refused
// (conflict "trusted" when the holder is a trusted connection, "live"
// otherwise), unless it is trusted itself: superpeer reconnecting under its
// own id while the server still holds the old socket. It returns the
// conflict and the holder.
//
// wt-tracker instead moves the id to the new socket ("peer changed
// connection"), which is what let a browser evict the seed from its swarms.
func (s *Server) claim(c *sconn, pid id20) (conflict string, holder *sconn) {
	p := s.peers[pid]
	switch {
	case p == nil || p.c == c:
		return "", nil
	case c.trusted:
		s.removePeer(p)
		return "", nil
	case p.c.trusted:
		return conflictTrusted, p.c
	default:
		return conflictLive, p.c
	}
}

// refuseClaim answers a refused claim of a peer id (see claim) and, when an
// ordinary connection holds the id, checks that it is still there: a browser
// that lost its network and reconnects under the same id is refused until
// its old socket is gone, which the probe shortens from IdleTimeout to
// 10 s unless the old socket answers. Called without Server.mu.
func (s *Server) refuseClaim(c, holder *sconn, conflict, infoHash string) {
	s.m.conflicts[conflict].Inc()
	s.warn.Warn().Str("conflict", conflict).Msg("refused a peer id held by another tracker connection")
	if conflict == conflictLive {
		holder.probe()
	}
	s.fail(c, "announce", infoHash, failPeerIDInUse)
}

// join adds or refreshes pid's membership of ih for c, which claim has
// allowed to hold pid. It returns a failure reason and drop label when a
// limit refuses the membership.
func (s *Server) join(c *sconn, ih, pid id20, now int64, completed bool) (*tswarm, *tpeer, string, string) {
	p := s.peers[pid]
	sw := s.swarms[ih]
	if p != nil && sw != nil {
		if ms := p.find(sw); ms != nil {
			ms.last = now
			if completed && !ms.completed {
				ms.completed = true
				sw.complete++
			}
			return sw, p, "", ""
		}
	}
	switch {
	case c.nms >= s.cfg.MaxSwarmsPerConn && !c.trusted:
		return nil, nil, failConnLimit, dropConnLimit
	case sw == nil && len(s.swarms) >= s.cfg.MaxSwarms:
		return nil, nil, failTooManySwarms, dropSwarmLimit
	case sw != nil && len(sw.members) >= s.cfg.MaxPeersPerSwarm:
		return nil, nil, failSwarmFull, dropSwarmFull
	}
	if sw == nil {
		sw = &tswarm{ih: ih}
		s.swarms[ih] = sw
		s.m.swarms.Set(float64(len(s.swarms)))
	}
	if p == nil {
		p = &tpeer{id: pid, c: c, next: c.peers}
		c.peers = p
		s.peers[pid] = p
	}
	p.ms = append(p.ms, membership{sw: sw, last: now, idx: int32(len(sw.members)), completed: completed})
	sw.members = append(sw.members, p)
	if c.trusted {
		sw.swap(len(sw.members)-1, sw.seeds)
		sw.seeds++
	}
	if completed {
		sw.complete++
	}
	c.nms++
	c.members.Store(int32(c.nms))
	s.nMembers++
	s.m.peers.Set(float64(s.nMembers))
	return sw, p, "", ""
}

// leave removes p's i-th membership (swap-remove in both the swarm and the
// peer). The peer itself stays, even without memberships.
func (s *Server) leave(p *tpeer, i int) {
	ms := &p.ms[i]
	sw := ms.sw
	if ms.completed {
		sw.complete--
	}
	idx := int(ms.idx)
	if idx < sw.seeds {
		// Keep the seeds in front: the leaving seed trades places with the
		// last of them, which is then no longer a seed's slot.
		sw.seeds--
		sw.swap(idx, sw.seeds)
		idx = sw.seeds
	}
	last := len(sw.members) - 1
	if idx != last {
		moved := sw.members[last]
		sw.members[idx] = moved
		moved.find(sw).idx = int32(idx)
	}
	sw.members[last] = nil
	sw.members = sw.members[:last]
	switch {
	case last == 0:
		delete(s.swarms, sw.ih)
		s.m.swarms.Set(float64(len(s.swarms)))
	case cap(sw.members) > 64 && last < cap(sw.members)/4:
		// Give back the memory of a swarm that shrank a lot.
		sw.members = append(make([]*tpeer, 0, 2*last), sw.members...)
	}
	n := len(p.ms) - 1
	p.ms[i] = p.ms[n]
	p.ms[n] = membership{}
	p.ms = p.ms[:n]
	p.c.nms--
	p.c.members.Store(int32(p.c.nms))
	s.nMembers--
	s.m.peers.Set(float64(s.nMembers))
}

// removePeer removes p from every swarm, the peer map and its connection.
func (s *Server) removePeer(p *tpeer) {
	for len(p.ms) > 0 {
		s.leave(p, len(p.ms)-1)
	}
	delete(s.peers, p.id)
	for pp := &p.c.peers; *pp != nil; pp = &(*pp).next {
		if *pp == p {
			*pp = p.next
			break
		}
	}
	p.next = nil
}

// dropConn forgets a closed connection and all its peers.
func (s *Server) dropConn(c *sconn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c.peers != nil {
		s.removePeer(c.peers)
	}
	delete(s.conns, c)
	s.m.connections.Set(float64(len(s.conns)))
}

// stop handles event "stopped": it removes that one membership, and the peer
// when it has no other. Only the connection that announced the peer may stop
// it (wt-tracker does not check).
func (s *Server) stop(c *sconn, m *wire.RawTrackerMessage) bool {
	if !m.InfoHash.Valid() || !m.PeerID.Valid() {
		s.m.drop[dropInvalid].Inc()
		s.fail(c, "announce", m.InfoHash.String(), failInvalidPeerID)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, sw := s.peers[m.PeerID.Bytes], s.swarms[m.InfoHash.Bytes]
	if p == nil || sw == nil || p.c != c {
		return true
	}
	for i := range p.ms {
		if p.ms[i].sw == sw {
			s.leave(p, i)
			break
		}
	}
	if len(p.ms) == 0 {
		s.removePeer(p)
	}
	return true
}

// answer forwards an answer to the peer named by to_peer_id, without
// to_peer_id (wt-tracker processAnswer), if that peer is in the swarm the
// answer names: a 5.x or 0.6 browser uses one peer id in all its swarms, so
// the id alone does not say where the offer was made; wt-tracker looks the
// peer up in that swarm too. An answer to a peer that is not there is counted
// and dropped: that peer has usually just left (the browser answers after up
// to 5 s of ICE gathering), which is no fault of the answerer, so unlike
// wt-tracker the answerer's socket is kept. Nor is the answerer required to
// be in the swarm (wt-tracker requires it): an answer is judged by where it
// goes, not by what its sender announced.
func (s *Server) answer(c *sconn, m *wire.RawTrackerMessage) bool {
	switch {
	case !m.InfoHash.Valid():
		s.m.drop[dropInvalid].Inc()
		s.fail(c, "announce", "", failInvalidInfoHash)
		return false
	case !m.PeerID.Valid():
		s.m.drop[dropInvalid].Inc()
		s.fail(c, "announce", m.InfoHash.String(), failInvalidPeerID)
		return false
	case !m.ToPeerID.Valid():
		s.m.drop[dropInvalid].Inc()
		s.fail(c, "announce", m.InfoHash.String(), failInvalidToPeerID)
		return false
	case m.OfferID == nil || emptyLit(m.Answer.SDP):
		s.m.drop[dropInvalid].Inc()
		s.fail(c, "announce", m.InfoHash.String(), failInvalidAnswer)
		return false
	}
	s.mu.Lock()
	// The answerer need not have announced, but it may not answer as a
	// peer id another connection holds: the browser would take the
	// answerer for that peer (the seed, say).
	if q := s.peers[m.PeerID.Bytes]; q != nil && q.c != c && !c.trusted {
		conflict := conflictLive
		if q.c.trusted {
			conflict = conflictTrusted
		}
		s.mu.Unlock()
		s.m.conflicts[conflict].Inc()
		s.fail(c, "announce", m.InfoHash.String(), failPeerIDInUse)
		return false
	}
	var to *sconn
	if p := s.peers[m.ToPeerID.Bytes]; p != nil && isMember(p, s.swarms[m.InfoHash.Bytes]) {
		to = p.c
	}
	s.mu.Unlock()
	if to == nil {
		s.m.drop[dropUnknownPeer].Inc()
		return true
	}
	// {"action":"announce","info_hash":B,"peer_id":B,"answer":{"type":T,"sdp":S},"offer_id":B}:
	// the answerer's message in wire's answer member order, without
	// to_peer_id; type, sdp and offer_id copied as received.
	bp := s.getBuf()
	b := append(*bp, `{"action":"announce","info_hash":`...)
	b = wire.AppendJSONString(b, string(m.InfoHash.Bytes[:]), true)
	b = append(b, `,"peer_id":`...)
	b = wire.AppendJSONString(b, string(m.PeerID.Bytes[:]), true)
	b = append(b, `,"answer":{`...)
	if !emptyLit(m.Answer.Type) {
		b = append(b, `"type":`...)
		b = append(b, m.Answer.Type...)
		b = append(b, ',')
	}
	b = append(b, `"sdp":`...)
	b = append(b, m.Answer.SDP...)
	b = append(b, `},"offer_id":`...)
	b = append(b, m.OfferID...)
	*bp = append(b, '}')
	s.m.relayedAnswer.Inc()
	to.enqueue(bp, skAnswer)
	return true
}

// scrape answers {"action":"scrape","info_hash":B|[B…]} with complete,
// incomplete and downloaded (= complete, as wt-tracker) per info hash. A scrape
// of every swarm (no info_hash) is refused: with many swarms it would not fit
// a frame. Scrapes are rare, so the frame is decoded again in full.
func (s *Server) scrape(c *sconn, frame []byte) bool {
	m, err := wire.DecodeTrackerMessage(frame)
	if err != nil { // a response member of the wrong type: the raw decoder skips those unchecked
		s.m.drop[dropMalformed].Inc()
		s.fail(c, "scrape", "", failMalformed)
		return false
	}
	hashes := m.InfoHashes
	if hashes == nil && m.InfoHash != "" {
		hashes = []string{m.InfoHash}
	}
	if len(hashes) == 0 || len(hashes) > maxScrapeHashes {
		s.m.drop[dropUnsupported].Inc()
		s.fail(c, "scrape", "", failScrapeAll)
		return false
	}
	files := make([]wire.ScrapeFile, 0, len(hashes))
	s.mu.Lock()
	for _, h := range hashes {
		if len(h) != 20 {
			continue
		}
		f := wire.ScrapeFile{InfoHash: h}
		if sw := s.swarms[toID(h)]; sw != nil {
			f.Complete, f.Incomplete, f.Downloaded = int64(sw.complete), int64(len(sw.members)-sw.complete), int64(sw.complete)
		}
		files = append(files, f)
	}
	s.mu.Unlock()
	if len(files) == 0 {
		s.m.drop[dropInvalid].Inc()
		s.fail(c, "scrape", "", failInvalidInfoHash)
		return false
	}
	resp := wire.TrackerMessage{Action: "scrape", Files: files}
	bp := s.getBuf()
	*bp = resp.AppendJSON(*bp)
	c.enqueue(bp, skScrape)
	return true
}

// expire removes memberships not announced within 2 × Interval before now,
// and peers left without any (wt-tracker startClearPeersInterval).
func (s *Server) expire(now time.Time) int {
	cutoff := now.UnixNano() - 2*int64(s.cfg.Interval)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.peers {
		for i := 0; i < len(p.ms); {
			if p.ms[i].last < cutoff {
				s.leave(p, i) // moves the last membership to i
				n++
				continue
			}
			i++
		}
		if len(p.ms) == 0 {
			s.removePeer(p) // deleting during range is allowed
		}
	}
	if n > 0 {
		s.m.expired.Add(float64(n))
		s.log.Debug().Int("expired", n).Msg("expired tracker memberships")
	}
	return n
}

// isMember reports whether p is in sw (nil: no such swarm), scanning the
// shorter of p's memberships and sw's members: a seed is in many swarms, a
// swarm may hold thousands of peers, an answer names one of each.
func isMember(p *tpeer, sw *tswarm) bool {
	if sw == nil {
		return false
	}
	if len(p.ms) <= len(sw.members) {
		return p.find(sw) != nil
	}
	for _, q := range sw.members {
		if q == p {
			return true
		}
	}
	return false
}

// emptyLit reports whether a string literal is absent (nil) or "".
func emptyLit(lit []byte) bool { return len(lit) <= 2 }

// toID copies a 20-byte binary string into an id20.
func toID(s string) (id id20) {
	copy(id[:], s)
	return id
}
