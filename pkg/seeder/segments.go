package seeder

import (
	"time"

	"github.com/superpeer/superpeer/pkg/playlist"
)

// segmentSet is an immutable snapshot of one variant's segments, the same
// for every generation: the stream goroutine builds a new one on each change
// and hands it to the variant's swarms, whose protocols index it in their
// own numbering.
type segmentSet struct {
	// Current are the segments of the latest playlist, in playlist order,
	// that are held or being fetched.
	Current []heldSegment
	// Gone are segments held after they left a live playlist: browsers that
	// loaded the playlist a little earlier may still ask for them.
	Gone []heldSegment
	// Legacy are segments under the playlist entries they had before a live
	// playlist ended: P2PML 2.x renumbers an ended live playlist by position,
	// yet browsers already playing keep the old numbers.
	Legacy []heldSegment
	// Live reports a live playlist: browsers sit near its end.
	Live bool
	// Fresh is when superpeer came to hold the earliest of the segments
	// this set is the first to list as held; zero if it lists none anew.
	// Peers time the announcements that carry the news from it.
	Fresh time.Time
}

// heldSegment is one segment of a segmentSet.
type heldSegment struct {
	// Seg is the playlist entry: every generation's ids derive from it.
	Seg playlist.Segment
	// Data is the segment's bytes, nil while it is being fetched.
	Data []byte
}

// Loaded reports whether the bytes are held.
func (h heldSegment) Loaded() bool { return h.Data != nil }

var emptySegmentSet = &segmentSet{}

// heldBytes is the size of the loaded segments of the current playlist.
func (s *segmentSet) heldBytes() int64 {
	var n int64
	for _, h := range s.Current {
		n += int64(len(h.Data))
	}
	return n
}
