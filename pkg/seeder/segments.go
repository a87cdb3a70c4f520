package seeder

import "github.com/superpeer/superpeer/pkg/wire"

// segmentSet is an immutable snapshot of what one variant can serve, read by
// peer goroutines without locks (the stream goroutine swaps in a new one).
type segmentSet struct {
	// data holds the bytes of every servable segment by external id. It may
	// include ids of the previous numbering after a live stream ended
	// (see variant.legacy) and segments that just left a live window.
	data map[int64][]byte
	// loaded and loading are the sorted ids announced as held (l) and as
	// being fetched (p).
	loaded  []int64
	loading []int64
	// live reports a live playlist: browsers sit near its end, not its start.
	live bool
}

var emptySegmentSet = &segmentSet{data: map[int64][]byte{}}

// announcement builds the SegmentsAnnouncement sent to one peer. The real
// decoder cannot take 256 ids of one 256-aligned block, nor more than 255
// blocks (wire.MaxIDsPerBlock, wire.MaxBlocks), so long VOD lists are trimmed
// around focus, the id the peer is playing near: in each full block the id
// farthest from focus is left out, and when there are too many blocks the
// farthest blocks are. Requests for a left-out id are still served.
func (s *segmentSet) announcement(focus int64) wire.Command {
	return wire.Command{
		Type:    wire.SegmentsAnnouncement,
		Loaded:  fitAnnouncement(s.loaded, focus),
		Loading: fitAnnouncement(s.loading, focus),
	}
}

// defaultFocus is where a peer that has asked for nothing yet is assumed to
// play: the start of a VOD, the edge of a live stream.
func (s *segmentSet) defaultFocus() int64 {
	ids := s.loaded
	if len(ids) == 0 {
		ids = s.loading
	}
	switch {
	case len(ids) == 0:
		return 0
	case s.live:
		return ids[len(ids)-1]
	default:
		return ids[0]
	}
}

// fitAnnouncement returns ids (sorted) trimmed to what a browser can decode.
func fitAnnouncement(ids []int64, focus int64) []int64 {
	if len(ids) <= wire.MaxIDsPerBlock {
		return ids
	}
	type block struct{ lo, hi int } // ids[lo:hi] share a 256-aligned block
	var blocks []block
	full := false
	for lo := 0; lo < len(ids); {
		hi := lo + 1
		for hi < len(ids) && ids[hi]&^0xff == ids[lo]&^0xff {
			hi++
		}
		blocks = append(blocks, block{lo, hi})
		full = full || hi-lo > wire.MaxIDsPerBlock
		lo = hi
	}
	if !full && len(blocks) <= wire.MaxBlocks {
		return ids
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
		if len(in) <= wire.MaxIDsPerBlock {
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
