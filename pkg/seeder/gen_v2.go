package seeder

import (
	"bytes"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/wire"
)

// gen2x is P2P Media Loader 1.0.4 to 2.3.x (and 3.x/4.x, which keep 2.3's
// swarms): one swarm per hls.js level and audio track, named "v2-<base>-
// <type>-<index>", segments numbered by media sequence (live) or position
// (VOD), and the binary command protocol. 2.2 and 2.3 differ only in the
// stream index and the info hash.
type gen2x struct{ gen wire.Generation }

func (g gen2x) name() wire.Generation { return g.gen }

// swarms names every variant: the base is the page's swarmId or the
// manifest URL after redirects without its query (P2PML 2.x reads the
// response URL).
func (g gen2x) swarms(id streamIdentity, m *playlist.Manifest) []swarmIdentity {
	base := id.SwarmID
	if base == "" {
		base = m.SwarmBase
	}
	out := make([]swarmIdentity, 0, len(m.Variants))
	for i, v := range m.Variants {
		sid := wire.StreamSwarmID23(base, wire.StreamType(v.Type), streamProps(v))
		if g.gen == wire.Gen22 {
			sid = wire.StreamSwarmID22(base, wire.StreamType(v.Type), v.Ordinal)
		}
		out = append(out, swarmIdentity{Variant: i, SwarmID: sid, InfoHash: g.gen.InfoHash(sid)})
	}
	return out
}

// streamProps is what P2P Media Loader's hls.js integration (2.3) feeds into
// the stream short id for a variant (p2p-media-loader-hlsjs segment-manager.ts).
func streamProps(v playlist.Variant) wire.StreamProps {
	r := v.Rendition
	if v.Type == playlist.Secondary {
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

func (g gen2x) newProtocol(swarmIdentity) protocol { return newProtoBinary(rules2x) }

// rules2x are the 2.x binary protocol's: segments numbered by their
// external id, at most 255 ids of a 256-aligned block in one announcement
// (the 2.x decoder reads a full block's count byte 0 as no ids).
var rules2x = binaryRules{
	id:            func(s playlist.Segment) int64 { return s.ID },
	perBlock:      wire.MaxIDsPerBlock,
	appendPayload: wire.AppendPayload,
	decodePayload: wire.DecodePayload,
}

// binaryRules are what tells apart the generations that speak the binary
// command protocol (2.x, and 5.x's v3).
type binaryRules struct {
	// id is a segment's id on the wire.
	id func(playlist.Segment) int64
	// perBlock is the most ids of one 256-aligned block an announcement lists.
	perBlock      int
	appendPayload func([]byte, wire.Command) ([]byte, error)
	decodePayload func([]byte) (wire.Command, error)
}

func newProtoBinary(rules binaryRules) *proto2x {
	p := &proto2x{rules: rules}
	p.cat.Store(&catalog2x{data: map[int64][]byte{}})
	return p
}

// proto2x holds a swarm's current catalog for its peers of a binary
// protocol generation.
type proto2x struct {
	rules binaryRules
	cat   atomic.Pointer[catalog2x]
}

// catalog2x is one segment set in 2.x numbering.
type catalog2x struct {
	// data holds every servable segment by external id, including ids of
	// the previous numbering after a live stream ended and segments that
	// just left a live window.
	data map[int64][]byte
	// loaded and loading are the sorted ids announced as held (l) and as
	// being fetched (p).
	loaded, loading []int64
	// live reports a live playlist: browsers sit near its end, not its start.
	live bool
	// shared is the encoded announcement when it is the same for every
	// peer (no trimming needed), nil otherwise.
	shared []byte
}

func (p *proto2x) publish(set *segmentSet) {
	id := p.rules.id
	c := &catalog2x{data: make(map[int64][]byte, len(set.Current)+len(set.Gone)+len(set.Legacy)), live: set.Live}
	// An empty segment is never announced nor served: a browser cannot
	// complete a zero-byte transfer (5.x drops the peer for it).
	for _, h := range set.Legacy {
		if len(h.Data) > 0 {
			c.data[id(h.Seg)] = h.Data
		}
	}
	for _, h := range set.Gone {
		if len(h.Data) > 0 {
			c.data[id(h.Seg)] = h.Data
		}
	}
	for _, h := range set.Current {
		switch {
		case len(h.Data) > 0:
			c.data[id(h.Seg)] = h.Data
			c.loaded = append(c.loaded, id(h.Seg))
		case !h.Loaded():
			c.loading = append(c.loading, id(h.Seg))
		}
	}
	slices.Sort(c.loaded)
	slices.Sort(c.loading)
	c.loaded, c.loading = slices.Compact(c.loaded), slices.Compact(c.loading)
	if !needsTrim(c.loaded, p.rules.perBlock) && !needsTrim(c.loading, p.rules.perBlock) {
		// Encoded once for every peer of the swarm.
		c.shared, _ = p.rules.appendPayload(nil, wire.Command{Type: wire.SegmentsAnnouncement, Loaded: c.loaded, Loading: c.loading})
	}
	p.cat.Store(c)
}

func (p *proto2x) counts() (int, int) {
	c := p.cat.Load()
	return len(c.loaded), len(c.loading)
}

func (p *proto2x) newSession(cfg sessionConfig) session {
	return &session2x{p: p, cfg: cfg, joiner: wire.Joiner{Limit: cfg.MaxCommandBytes}}
}

// session2x is the 2.x binary protocol on one data channel.
type session2x struct {
	p         *proto2x
	cfg       sessionConfig
	joiner    wire.Joiner
	focus     int64 // the id the browser plays near
	hasFocus  bool
	announced []byte // the last announcement sent, to skip repeats
}

// wants keeps command frames: superpeer never requests segments, so raw
// data from the browser is unrequested.
func (s *session2x) wants(msg []byte) bool { return wire.IsCommandFrame(msg) }

func (s *session2x) start(out outbox) error { return s.announce(out) }

func (s *session2x) published(out outbox) error { return s.announce(out) }

func (s *session2x) timer(outbox) error { return nil }

func (s *session2x) handle(msg []byte, out outbox) error {
	payload, err := s.joiner.Push(msg)
	if err != nil {
		out.fault("malformed_frame")
		return nil
	}
	if payload == nil {
		return nil
	}
	cmd, err := s.p.rules.decodePayload(payload)
	if err != nil {
		out.fault("malformed_command")
		return nil
	}
	switch cmd.Type {
	case wire.SegmentRequest:
		// A new request silently replaces the one being served, as in the
		// browser (serve counts it).
		s.focus, s.hasFocus = cmd.SegmentID, true
		c := s.p.cat.Load()
		data, ok := c.data[cmd.SegmentID]
		if !ok || cmd.BytesFrom < 0 || cmd.BytesFrom >= int64(len(data)) {
			out.request("absent")
			return s.command(out, wire.Command{Type: wire.SegmentAbsent, SegmentID: cmd.SegmentID, RequestID: cmd.RequestID})
		}
		header, err := s.encode(wire.Command{Type: wire.SegmentData, SegmentID: cmd.SegmentID, RequestID: cmd.RequestID, Size: int64(len(data)) - cmd.BytesFrom})
		if err != nil {
			return err
		}
		trailer, err := s.encode(wire.Command{Type: wire.SegmentDataSendingCompleted, SegmentID: cmd.SegmentID, RequestID: cmd.RequestID})
		if err != nil {
			return err
		}
		out.serve(&upload{Tag: cmd.RequestID, Header: header, Trailer: trailer, Data: data[cmd.BytesFrom:], Chunk: wire.NextChunkLen})
		// In a trimmed announcement the focus decides what is left out.
		if c.shared == nil {
			return s.announce(out)
		}
	case wire.CancelSegmentRequest:
		// Matched on the request id only, as the browser does.
		if u := out.current(); u != nil && u.Tag == cmd.RequestID {
			out.request("cancelled")
			out.cancel()
		}
	case wire.SegmentsAnnouncement:
		if !s.hasFocus && len(cmd.Loaded) > 0 {
			s.focus = cmd.Loaded[len(cmd.Loaded)-1]
		}
	case wire.SegmentData, wire.SegmentDataSendingCompleted, wire.SegmentAbsent:
		out.fault("unexpected_command")
	}
	return nil // unknown commands are ignored, as in the browser
}

// announce sends the segments held and being fetched, unless the browser
// already has exactly this announcement.
func (s *session2x) announce(out outbox) error {
	c := s.p.cat.Load()
	payload := c.shared
	if payload == nil {
		if !s.hasFocus {
			s.focus = c.defaultFocus()
		}
		var err error
		per := s.p.rules.perBlock
		payload, err = s.p.rules.appendPayload(nil, wire.Command{
			Type:    wire.SegmentsAnnouncement,
			Loaded:  fitAnnouncement(c.loaded, s.focus, per),
			Loading: fitAnnouncement(c.loading, s.focus, per),
		})
		if err != nil {
			return fmt.Errorf("encode announcement: %w", err) // fitAnnouncement keeps within limits
		}
	}
	if bytes.Equal(payload, s.announced) {
		return nil
	}
	s.announced = payload
	frames, err := wire.FramePayload(payload, s.cfg.MaxMessage)
	if err != nil {
		return fmt.Errorf("frame announcement: %w", err)
	}
	return out.command(frames)
}

func (s *session2x) command(out outbox, c wire.Command) error {
	frames, err := s.encode(c)
	if err != nil {
		return err
	}
	return out.command(frames)
}

// encode frames one command under the generation's rules.
func (s *session2x) encode(c wire.Command) ([][]byte, error) {
	payload, err := s.p.rules.appendPayload(nil, c)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.Type, err)
	}
	frames, err := wire.FramePayload(payload, s.cfg.MaxMessage)
	if err != nil {
		return nil, fmt.Errorf("frame %s: %w", c.Type, err)
	}
	return frames, nil
}

// defaultFocus is where a peer that has asked for nothing yet is assumed to
// play: the start of a VOD, the edge of a live stream.
func (c *catalog2x) defaultFocus() int64 {
	ids := c.loaded
	if len(ids) == 0 {
		ids = c.loading
	}
	switch {
	case len(ids) == 0:
		return 0
	case c.live:
		return ids[len(ids)-1]
	default:
		return ids[0]
	}
}

// needsTrim reports whether the sorted ids break a limit of the browser's
// decoder: more than perBlock ids in one 256-aligned block, or more than
// 255 blocks.
func needsTrim(ids []int64, perBlock int) bool {
	if len(ids) <= perBlock {
		return false
	}
	blocks, run := 0, 0
	for i, id := range ids {
		if i == 0 || id&^0xff != ids[i-1]&^0xff {
			blocks, run = blocks+1, 0
		}
		run++
		if run > perBlock || blocks > wire.MaxBlocks {
			return true
		}
	}
	return false
}

// fitAnnouncement returns ids (sorted) trimmed to what a browser can decode.
// The 2.x decoder cannot take 256 ids of one 256-aligned block (perBlock
// wire.MaxIDsPerBlock; 5.x's can), and no decoder more than 255 blocks
// (wire.MaxBlocks), so long VOD lists are trimmed around focus, the id the
// peer is playing near: in each over-full block the id farthest from focus
// is left out, and when there are too many blocks the farthest blocks are.
// Requests for a left-out id are still served.
func fitAnnouncement(ids []int64, focus int64, perBlock int) []int64 {
	if !needsTrim(ids, perBlock) {
		return ids
	}
	type block struct{ lo, hi int } // ids[lo:hi] share a 256-aligned block
	var blocks []block
	for lo := 0; lo < len(ids); {
		hi := lo + 1
		for hi < len(ids) && ids[hi]&^0xff == ids[lo]&^0xff {
			hi++
		}
		blocks = append(blocks, block{lo, hi})
		lo = hi
	}
	if len(blocks) > wire.MaxBlocks {
		// Keep the MaxBlocks blocks nearest to focus: a contiguous run of
		// blocks, since ids are sorted.
		start := 0
		for i, b := range blocks {
			if ids[b.lo]&^0xff <= focus {
				start = i
			}
		}
		start = max(0, min(start-wire.MaxBlocks/2, len(blocks)-wire.MaxBlocks))
		blocks = blocks[start : start+wire.MaxBlocks]
	}
	out := make([]int64, 0, len(ids))
	for _, b := range blocks {
		in := ids[b.lo:b.hi]
		if len(in) <= perBlock {
			out = append(out, in...)
			continue
		}
		// A full block: leave out the id farthest from focus.
		drop := 0
		if dist(in[len(in)-1], focus) > dist(in[0], focus) {
			drop = len(in) - 1
		}
		out = append(out, in[:drop]...)
		out = append(out, in[drop+1:]...)
	}
	return out
}

func dist(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
