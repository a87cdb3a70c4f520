package wire

import (
	"fmt"
	"math"
	"math/bits"
)

// CommandType is the first payload byte of a command
// (PeerCommandType in p2p-media-loader-core/src/p2p/commands/types.ts).
type CommandType uint8

// The six commands of the P2P Media Loader 2.x peer protocol.
const (
	// SegmentsAnnouncement is a full snapshot of the segment ids a peer holds
	// (field l) and is downloading over HTTP (field p).
	SegmentsAnnouncement CommandType = 0
	// SegmentRequest asks for segment i from byte b under request id r.
	SegmentRequest CommandType = 1
	// SegmentData announces s bytes of segment i for request r; raw chunks follow.
	SegmentData CommandType = 2
	// SegmentDataSendingCompleted ends the chunks of request r.
	SegmentDataSendingCompleted CommandType = 3
	// SegmentAbsent answers request r: the peer does not hold segment i.
	SegmentAbsent CommandType = 4
	// CancelSegmentRequest withdraws request r.
	CancelSegmentRequest CommandType = 5
)

// String returns the upstream name of t.
func (t CommandType) String() string {
	switch t {
	case SegmentsAnnouncement:
		return "SegmentsAnnouncement"
	case SegmentRequest:
		return "SegmentRequest"
	case SegmentData:
		return "SegmentData"
	case SegmentDataSendingCompleted:
		return "SegmentDataSendingCompleted"
	case SegmentAbsent:
		return "SegmentAbsent"
	case CancelSegmentRequest:
		return "CancelSegmentRequest"
	}
	return fmt.Sprintf("CommandType(%d)", uint8(t))
}

// Field names, one ASCII letter each on the wire.
const (
	fieldSegmentID = 'i'
	fieldRequestID = 'r'
	fieldBytesFrom = 'b'
	fieldSize      = 's'
	fieldLoaded    = 'l'
	fieldLoading   = 'p'
)

// Value types: the high nibble of a value's first byte (SerializedItem).
const (
	typeInt             = 0
	typeSimilarIntArray = 1
	typeString          = 2
)

// Limits of the real decoder (binary-serialization.ts). A SimilarIntArray
// writes its group count in one byte and each group's id count in the low
// byte of an Int, so 256 of either wraps to 0 and corrupts the list.
const (
	// MaxIDsPerBlock is the most ids of one 256-aligned block a SimilarIntArray may carry.
	MaxIDsPerBlock = 255
	// MaxBlocks is the most 256-aligned blocks a SimilarIntArray may carry.
	MaxBlocks = 255
	// maxIntBytes is the most magnitude bytes an Int can declare (4-bit length).
	maxIntBytes = 15
)

// Command is one P2P Media Loader peer command. Which fields are meaningful
// depends on Type: SegmentID and RequestID for every command but the
// announcement, BytesFrom for SegmentRequest, Size for SegmentData, Loaded and
// Loading for SegmentsAnnouncement. Decoding keeps unknown command types (the
// browser ignores them) and skips unknown fields.
type Command struct {
	Type      CommandType
	SegmentID int64   // field i: the segment's external id in its stream swarm
	RequestID int64   // field r: chosen by the requester, echoed by the uploader
	BytesFrom int64   // field b: first byte wanted (SegmentRequest, sent only when > 0)
	Size      int64   // field s: bytes that follow (SegmentData)
	Loaded    []int64 // field l: ids held (SegmentsAnnouncement)
	Loading   []int64 // field p: ids being downloaded over HTTP (SegmentsAnnouncement)
}

// AppendPayload appends the unframed payload of c to dst, with the fields in
// the order the browser writes them, so the bytes equal the browser's.
// It returns an error wrapping ErrLimit when an announcement list would break
// the real decoder (see MaxIDsPerBlock and MaxBlocks).
func AppendPayload(dst []byte, c Command) ([]byte, error) {
	dst = append(dst, byte(c.Type))
	switch c.Type {
	case SegmentsAnnouncement:
		var err error
		if len(c.Loaded) > 0 {
			dst = append(dst, fieldLoaded)
			if dst, err = appendSimilarIntArray(dst, c.Loaded); err != nil {
				return nil, fmt.Errorf("field l: %w", err)
			}
		}
		if len(c.Loading) > 0 {
			dst = append(dst, fieldLoading)
			if dst, err = appendSimilarIntArray(dst, c.Loading); err != nil {
				return nil, fmt.Errorf("field p: %w", err)
			}
		}
	case SegmentRequest:
		dst = appendIntField(dst, fieldSegmentID, c.SegmentID)
		dst = appendIntField(dst, fieldRequestID, c.RequestID)
		if c.BytesFrom > 0 {
			dst = appendIntField(dst, fieldBytesFrom, c.BytesFrom)
		}
	case SegmentData:
		dst = appendIntField(dst, fieldSegmentID, c.SegmentID)
		dst = appendIntField(dst, fieldSize, c.Size)
		dst = appendIntField(dst, fieldRequestID, c.RequestID)
	case SegmentDataSendingCompleted, SegmentAbsent, CancelSegmentRequest:
		dst = appendIntField(dst, fieldSegmentID, c.SegmentID)
		dst = appendIntField(dst, fieldRequestID, c.RequestID)
	default:
		return nil, fmt.Errorf("%w: encode unknown command type %d", ErrLimit, c.Type)
	}
	return dst, nil
}

// DecodePayload parses an unframed command payload (as returned by a Joiner).
// Unknown field names are skipped; a value of unknown type makes the whole
// command malformed, as in the browser.
func DecodePayload(p []byte) (Command, error) {
	if len(p) == 0 {
		return Command{}, fmt.Errorf("%w: empty command", ErrMalformed)
	}
	c := Command{Type: CommandType(p[0])}
	for off := 1; off < len(p); {
		name := p[off]
		off++
		if off >= len(p) {
			return Command{}, fmt.Errorf("%w: field %q has no value", ErrMalformed, name)
		}
		switch p[off] >> 4 {
		case typeInt:
			v, n, err := decodeInt(p[off:])
			if err != nil {
				return Command{}, fmt.Errorf("field %q: %w", name, err)
			}
			off += n
			switch name {
			case fieldSegmentID:
				c.SegmentID = v
			case fieldRequestID:
				c.RequestID = v
			case fieldBytesFrom:
				c.BytesFrom = v
			case fieldSize:
				c.Size = v
			}
		case typeSimilarIntArray:
			ids, n, err := decodeSimilarIntArray(p[off:])
			if err != nil {
				return Command{}, fmt.Errorf("field %q: %w", name, err)
			}
			off += n
			switch name {
			case fieldLoaded:
				c.Loaded = ids
			case fieldLoading:
				c.Loading = ids
			}
		case typeString:
			if off+2 > len(p) {
				return Command{}, fmt.Errorf("%w: field %q: truncated string header", ErrMalformed, name)
			}
			l := int(p[off]&0x0f)<<8 | int(p[off+1])
			if off+2+l > len(p) {
				return Command{}, fmt.Errorf("%w: field %q: string of %d bytes overruns command", ErrMalformed, name, l)
			}
			off += 2 + l // no command uses strings; skip it
		default:
			return Command{}, fmt.Errorf("%w: field %q: unknown value type %d", ErrMalformed, name, p[off]>>4)
		}
	}
	return c, nil
}

// appendIntField appends a one-letter field name and an Int value.
func appendIntField(dst []byte, name byte, v int64) []byte {
	return appendInt(append(dst, name), v)
}

// appendInt appends v as the browser's serializeInt does: a header byte with
// the magnitude length (type 0 in the high nibble), then the magnitude
// big-endian in the fewest bytes that also leave room for the sign bit,
// which is the top bit of the first byte.
func appendInt(dst []byte, v int64) []byte {
	neg := v < 0
	mag := uint64(v)
	if neg {
		mag = -mag // two's complement negation also covers math.MinInt64
	}
	n := (bits.Len64(mag) + 1 + 7) / 8 // magnitude bits plus the sign bit
	dst = append(dst, byte(typeInt<<4|n))
	start := len(dst)
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(mag>>(8*uint(i)))) // a shift of 64 yields 0: |MinInt64| needs 9 bytes
	}
	if neg {
		dst[start] |= 0x80
	}
	return dst
}

// decodeInt reads an Int value, returning it and the bytes consumed. Like the
// browser it ignores leading zero bytes (non-minimal lengths are accepted).
func decodeInt(b []byte) (int64, int, error) {
	n := int(b[0] & 0x0f)
	if b[0]>>4 != typeInt {
		return 0, 0, fmt.Errorf("%w: value type %d is not an integer", ErrMalformed, b[0]>>4)
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: integer of zero bytes", ErrMalformed)
	}
	if 1+n > len(b) {
		return 0, 0, fmt.Errorf("%w: integer of %d bytes truncated at %d", ErrMalformed, n, len(b)-1)
	}
	mag := b[1 : 1+n]
	neg := mag[0]&0x80 != 0
	var v uint64
	for i, c := range mag {
		if i == 0 {
			c &= 0x7f
		}
		if v > math.MaxUint64>>8 {
			return 0, 0, fmt.Errorf("%w: integer exceeds 64 bits", ErrMalformed)
		}
		v = v<<8 | uint64(c)
	}
	if v > math.MaxInt64 {
		return 0, 0, fmt.Errorf("%w: integer exceeds 63 bits", ErrMalformed)
	}
	if neg {
		return -int64(v), 1 + n, nil
	}
	return int64(v), 1 + n, nil
}

// appendSimilarIntArray appends ids as serializeSimilarIntArray does: ids are
// grouped by their 256-aligned block in first-seen order, each group written
// as Int(block | count) followed by the low byte of each id.
func appendSimilarIntArray(dst []byte, ids []int64) ([]byte, error) {
	// Fast path, the usual case of sorted lists: blocks appear in
	// ascending runs, so groups can be written in one pass without
	// allocating. Anything else takes the general path.
	groups := 0
	for i, id := range ids {
		if i > 0 && id&^0xff < ids[i-1]&^0xff {
			return appendScatteredIntArray(dst, ids)
		}
		if i == 0 || id&^0xff != ids[i-1]&^0xff {
			groups++
		}
	}
	if groups > MaxBlocks {
		return nil, fmt.Errorf("%w: %d blocks of 256 ids, at most %d", ErrLimit, groups, MaxBlocks)
	}
	dst = append(dst, typeSimilarIntArray<<4, byte(groups))
	for lo := 0; lo < len(ids); {
		block := ids[lo] &^ 0xff
		hi := lo + 1
		for hi < len(ids) && ids[hi]&^0xff == block {
			hi++
		}
		if hi-lo > MaxIDsPerBlock {
			return nil, fmt.Errorf("%w: %d ids in block %d, at most %d", ErrLimit, hi-lo, block, MaxIDsPerBlock)
		}
		dst = appendInt(dst, block|int64(hi-lo))
		for _, id := range ids[lo:hi] {
			dst = append(dst, byte(id))
		}
		lo = hi
	}
	return dst, nil
}

// appendScatteredIntArray is appendSimilarIntArray for lists whose blocks
// interleave: ids are gathered per block, blocks kept in first-seen order.
func appendScatteredIntArray(dst []byte, ids []int64) ([]byte, error) {
	type group struct {
		block int64
		ids   []byte
	}
	var groups []group
	index := map[int64]int{}
	for _, id := range ids {
		block := id &^ 0xff
		i, ok := index[block]
		if !ok {
			i = len(groups)
			index[block] = i
			groups = append(groups, group{block: block})
		}
		groups[i].ids = append(groups[i].ids, byte(id))
	}
	if len(groups) > MaxBlocks {
		return nil, fmt.Errorf("%w: %d blocks of 256 ids, at most %d", ErrLimit, len(groups), MaxBlocks)
	}
	dst = append(dst, typeSimilarIntArray<<4, byte(len(groups)))
	for _, g := range groups {
		if len(g.ids) > MaxIDsPerBlock {
			return nil, fmt.Errorf("%w: %d ids in block %d, at most %d", ErrLimit, len(g.ids), g.block, MaxIDsPerBlock)
		}
		dst = appendInt(dst, g.block|int64(len(g.ids)))
		dst = append(dst, g.ids...)
	}
	return dst, nil
}

// decodeSimilarIntArray reads a SimilarIntArray value, returning the ids and
// the bytes consumed.
func decodeSimilarIntArray(b []byte) ([]int64, int, error) {
	if len(b) < 2 {
		return nil, 0, fmt.Errorf("%w: truncated id list header", ErrMalformed)
	}
	groups := int(b[1])
	off := 2
	// Each id takes at least one byte, so the input bounds the count.
	ids := make([]int64, 0, min(len(b), 1<<16))
	for g := 0; g < groups; g++ {
		if off >= len(b) {
			return nil, 0, fmt.Errorf("%w: id list truncated at group %d of %d", ErrMalformed, g, groups)
		}
		v, n, err := decodeInt(b[off:])
		if err != nil {
			return nil, 0, fmt.Errorf("id list group %d: %w", g, err)
		}
		off += n
		count := int(v & 0xff)
		block := v &^ 0xff
		if off+count > len(b) {
			return nil, 0, fmt.Errorf("%w: id list group %d declares %d ids, %d bytes left", ErrMalformed, g, count, len(b)-off)
		}
		for _, low := range b[off : off+count] {
			ids = append(ids, block|int64(low))
		}
		off += count
	}
	return ids, off, nil
}
