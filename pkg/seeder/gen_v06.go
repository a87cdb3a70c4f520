package seeder

import (
	"bytes"
	"errors"
	"sync/atomic"
	"time"

	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/wire"
)

// 0.6 session timings and sizes.
const (
	// mapResend06 is when the map is sent again if the browser sent none:
	// a map that arrives before the browser's connect event is stored but
	// not acted on, and consumeOnly browsers never send a map of their own.
	mapResend06 = time.Second
	// mapWindow06 is the most ids one map lists. Longer VOD lists are cut to
	// a window around where the browser plays (mapBehind06 ids behind it),
	// which keeps a map far below a data-channel message; requests outside
	// the window are still served.
	mapWindow06 = 300
	mapBehind06 = 20
)

// gen06 is P2P Media Loader 0.5 and 0.6 (hls.js and Shaka integrations): one
// swarm per quality level, named "<master>+V<i>" and hashed with SHA-1 into a
// binary info hash, segments named by media sequence number, and JSON
// commands with raw segment chunks (core/media-peer.ts@0.6.2). Audio
// renditions are never shared by 0.6.
type gen06 struct{}

func (gen06) name() wire.Generation { return wire.Gen06 }

// swarms names each level by its EXT-X-STREAM-INF position. The master
// swarm id is the page's swarmId or the manifest URL as the page requests
// it (not the redirect target), without its query. A media playlist loaded
// as the manifest is one swarm named by that id alone.
func (gen06) swarms(id streamIdentity, m *playlist.Manifest) []swarmIdentity {
	master := id.SwarmID
	if master == "" {
		master = wire.MasterSwarmID06(id.RequestURL)
	}
	var out []swarmIdentity
	for i, v := range m.Variants {
		if m.Format == playlist.FormatDASH {
			// Shaka: only video goes through P2P, named by Shaka's own
			// stream counter (shaka/integration.ts@0.6.2).
			if v.ContentType != "video" {
				continue
			}
			sid := wire.StreamSwarmID06(master, v.ShakaStreamID)
			out = append(out, swarmIdentity{Variant: i, SwarmID: sid, InfoHash: wire.Gen06.InfoHash(sid),
				Format: m.Format, ShakaStreamID: v.ShakaStreamID})
			continue
		}
		if v.Type != playlist.Main || v.StreamInf < 0 {
			continue
		}
		sid := wire.StreamSwarmID06(master, v.StreamInf)
		if m.MediaOnly {
			sid = master
		}
		out = append(out, swarmIdentity{Variant: i, SwarmID: sid, InfoHash: wire.Gen06.InfoHash(sid), Format: m.Format})
	}
	return out
}

// shortID06 is a segment's 0.6 short id in the swarm id, and whether the
// segment belongs to that swarm: the media sequence number for HLS, and for
// DASH the start within its period as Shaka 2.x computes it, printed with
// JavaScript's toFixed(3), in the period the swarm is named after.
func shortID06(id swarmIdentity, s playlist.Segment) (string, bool) {
	if id.Format == playlist.FormatDASH {
		return wire.FormatToFixed3(s.PeriodTime), s.ShakaStreamID == id.ShakaStreamID
	}
	return wire.ShortIDFromSequence(s.Sequence), true
}

func (gen06) newProtocol(id swarmIdentity) protocol {
	p := &proto06{id: id, swarmID: id.SwarmID}
	p.cat.Store(&catalog06{data: map[string][]byte{}, index: map[string]int{}})
	return p
}

// proto06 holds a swarm's current catalog for its 0.6 peers.
type proto06 struct {
	id      swarmIdentity
	swarmID string
	cat     atomic.Pointer[catalog06]
}

// catalog06 is one segment set in 0.6 naming.
type catalog06 struct {
	// data holds every servable segment by short id.
	data map[string][]byte
	// list is what a map announces, in playlist order: held segments as
	// Loaded, those being fetched as LoadingByHTTP (which also keeps the
	// browser from fetching them over HTTP at random).
	list []wire.MapSegment06
	// index is the position of each short id in list.
	index map[string]int
	live  bool
	// shared is the encoded map when every peer gets the whole list.
	shared []byte
}

func (p *proto06) publish(set *segmentSet) {
	c := &catalog06{
		data:  make(map[string][]byte, len(set.Current)+len(set.Gone)),
		index: make(map[string]int, len(set.Current)),
		list:  make([]wire.MapSegment06, 0, len(set.Current)),
		live:  set.Live,
	}
	for _, h := range set.Gone {
		if short, ok := shortID06(p.id, h.Seg); ok {
			c.data[short] = h.Data
		}
	}
	for _, h := range set.Current {
		short, ok := shortID06(p.id, h.Seg)
		if _, dup := c.index[short]; dup || !ok {
			continue
		}
		status := wire.LoadingByHTTP06
		// Never announce an empty segment: the browser cannot complete a
		// zero-byte transfer (media-peer.ts waits for more than 0 bytes).
		if h.Loaded() && len(h.Data) > 0 {
			c.data[short] = h.Data
			status = wire.Loaded06
		} else if h.Loaded() {
			continue
		}
		c.index[short] = len(c.list)
		c.list = append(c.list, wire.MapSegment06{ShortID: short, Status: status})
	}
	if len(c.list) <= mapWindow06 {
		c.shared = p.encodeMap(c.list)
	}
	p.cat.Store(c)
}

func (p *proto06) encodeMap(list []wire.MapSegment06) []byte {
	return wire.AppendCommand06(nil, wire.Command06{
		Code: wire.SegmentsMap06,
		Map:  []wire.MapEntry06{{StreamSwarmID: p.swarmID, Segments: list}},
	})
}

func (p *proto06) counts() (loaded, loading int) {
	for _, s := range p.cat.Load().list {
		if s.Status == wire.Loaded06 {
			loaded++
		} else {
			loading++
		}
	}
	return loaded, loading
}

func (p *proto06) newSession(cfg sessionConfig) session {
	return &session06{p: p, cfg: cfg, focus: -1}
}

// session06 is the 0.6 JSON protocol on one data channel.
type session06 struct {
	p         *proto06
	cfg       sessionConfig
	gotMap    bool   // the browser sent its first map: it is listening
	focus     int    // position in the catalog list the browser plays near, -1 unknown
	announced []byte // the last map sent
}

// wants keeps what the browser would take for a command; anything else is
// segment data, which superpeer never asks for.
func (s *session06) wants(msg []byte) bool { return wire.IsCommand06(msg) }

func (s *session06) start(out outbox) error {
	out.after(mapResend06)
	return s.sendMap(out, true)
}

func (s *session06) published(out outbox) error { return s.sendMap(out, false) }

func (s *session06) timer(out outbox) error {
	if s.gotMap {
		return nil
	}
	return s.sendMap(out, true)
}

func (s *session06) handle(msg []byte, out outbox) error {
	cmd, err := wire.DecodeCommand06(msg)
	if err != nil {
		if errors.Is(err, wire.ErrNotCommand06) {
			out.fault("unrequested_data")
		} else {
			out.fault("malformed_command")
		}
		return nil
	}
	switch cmd.Code {
	case wire.SegmentsMap06:
		if s.focus < 0 {
			s.focusOnMap(cmd.Map)
		}
		if !s.gotMap {
			// Its first map says the browser now acts on ours: send it again.
			s.gotMap = true
			return s.sendMap(out, true)
		}
	case wire.SegmentRequest06:
		return s.request(cmd.ID, out)
	case wire.CancelSegmentRequest06:
		if u := out.current(); u != nil && u.Tag == cmd.ID {
			out.request("cancelled")
			out.cancel()
		}
	default:
		out.fault("unexpected_command")
	}
	return nil
}

// request answers a segment request: the header and the bytes, or absent.
func (s *session06) request(id string, out outbox) error {
	c := s.p.cat.Load()
	swarmID, short, ok := wire.SplitSegmentID06(id)
	data := c.data[short]
	if !ok || swarmID != s.p.swarmID || len(data) == 0 {
		out.request("absent")
		return out.command([][]byte{wire.AppendCommand06(nil, wire.Command06{Code: wire.SegmentAbsent06, ID: id})})
	}
	header := wire.AppendCommand06(nil, wire.Command06{Code: wire.SegmentData06, ID: id, Size: int64(len(data))})
	out.serve(&upload{Tag: id, Header: [][]byte{header}, Data: data, Chunk: wire.NextChunkLen06, Exclusive: true})
	if i, ok := c.index[short]; ok {
		s.focus = i
		if c.shared == nil {
			return s.sendMap(out, false) // the window follows the browser
		}
	}
	return nil
}

// focusOnMap places the browser at the newest segment of this swarm its
// map lists, before it has requested anything.
func (s *session06) focusOnMap(m []wire.MapEntry06) {
	c := s.p.cat.Load()
	for _, e := range m {
		if e.StreamSwarmID != s.p.swarmID {
			continue
		}
		for _, seg := range e.Segments {
			if i, ok := c.index[seg.ShortID]; ok && i > s.focus {
				s.focus = i
			}
		}
	}
}

// sendMap sends the segments map unless the browser has this very map
// already (force sends it anyway).
func (s *session06) sendMap(out outbox, force bool) error {
	c := s.p.cat.Load()
	msg := c.shared
	if msg == nil {
		msg = s.p.encodeMap(c.window(s.focus))
	}
	if !force && bytes.Equal(msg, s.announced) {
		return nil
	}
	s.announced = msg
	return out.command([][]byte{msg})
}

// window returns at most mapWindow06 entries around position focus (-1:
// the start of a VOD, the end of a live stream).
func (c *catalog06) window(focus int) []wire.MapSegment06 {
	if len(c.list) <= mapWindow06 {
		return c.list
	}
	if focus < 0 {
		focus = 0
		if c.live {
			focus = len(c.list) - 1
		}
	}
	start := max(0, min(focus-mapBehind06, len(c.list)-mapWindow06))
	return c.list[start : start+mapWindow06]
}
