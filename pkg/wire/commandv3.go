package wire

import (
	"fmt"
)

// Limits of the 5.x ("v3") peer protocol. The commands, fields and framing
// are the 2.x ones (Command, FramePayload, Joiner); what differs is what the
// 5.x decoder accepts (p2p/commands/binary-serialization.ts, p2p/peer.ts).
const (
	// MaxIDsPerBlockV3 is the most ids of one 256-aligned block a v3 id list
	// carries: a full block is written with count 0, which the 5.x decoder
	// reads as 256 (2.x decoders cannot; see MaxIDsPerBlock).
	MaxIDsPerBlockV3 = 256
	// MaxIntV3 is the largest magnitude a v3 integer may have: the 5.x
	// decoder rejects integers of more than 7 bytes, and it reads them into
	// JavaScript numbers, exact only up to 2^53−1.
	MaxIntV3 = 1<<53 - 1
	// maxIntBytesV3 is the most magnitude bytes the 5.x decoder accepts.
	maxIntBytesV3 = 7
)

// ErrUnknownCommandV3 reports a command type other than 0–5. A 2.x browser
// ignores it; a 5.x browser destroys the connection ("protocol-violation"),
// so a seed must never send one and may drop a peer that does. It wraps
// ErrMalformed.
var ErrUnknownCommandV3 = fmt.Errorf("%w: unknown v3 command type", ErrMalformed)

// ValidateCommandV3 reports whether c may be sent to, or accepted from, a
// 5.x peer without that peer counting it as a protocol violation. Errors
// wrap ErrUnknownCommandV3 (type above CancelSegmentRequest), ErrMalformed
// (a SegmentData with Size < 1, which a 5.x requester treats as a fault, so
// an empty segment is answered with SegmentAbsent; a negative BytesFrom or
// Size; an id repeated within one announcement list) or ErrLimit (a value
// beyond MaxIntV3, or an announcement list of more than MaxBlocks blocks).
func ValidateCommandV3(c Command) error {
	if c.Type > CancelSegmentRequest {
		return fmt.Errorf("%w: %d", ErrUnknownCommandV3, uint8(c.Type))
	}
	if c.Type == SegmentsAnnouncement {
		if err := validateIDListV3(c.Loaded); err != nil {
			return fmt.Errorf("field l: %w", err)
		}
		if err := validateIDListV3(c.Loading); err != nil {
			return fmt.Errorf("field p: %w", err)
		}
		return nil
	}
	for _, f := range []struct {
		name byte
		v    int64
	}{{fieldSegmentID, c.SegmentID}, {fieldRequestID, c.RequestID}, {fieldBytesFrom, c.BytesFrom}, {fieldSize, c.Size}} {
		if f.v > MaxIntV3 || f.v < -MaxIntV3 {
			return fmt.Errorf("%w: field %q: %d beyond ±2^53−1", ErrLimit, f.name, f.v)
		}
	}
	if c.BytesFrom < 0 || c.Size < 0 {
		return fmt.Errorf("%w: negative byte offset or size", ErrMalformed)
	}
	if c.Type == SegmentData && c.Size < 1 {
		return fmt.Errorf("%w: SegmentData of %d bytes; send SegmentAbsent for an empty segment", ErrMalformed, c.Size)
	}
	return nil
}

// validateIDListV3 checks that ids are unique, within MaxIntV3, and span at
// most MaxBlocks blocks of 256.
func validateIDListV3(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	seen := make(map[int64]struct{}, len(ids))
	blocks := make(map[int64]struct{})
	for _, id := range ids {
		if id > MaxIntV3 || id < -MaxIntV3 {
			return fmt.Errorf("%w: id %d beyond ±2^53−1", ErrLimit, id)
		}
		if _, dup := seen[id]; dup {
			return fmt.Errorf("%w: id %d repeated", ErrMalformed, id)
		}
		seen[id] = struct{}{}
		blocks[id&^0xff] = struct{}{}
	}
	if len(blocks) > MaxBlocks {
		return fmt.Errorf("%w: %d blocks of 256 ids, at most %d", ErrLimit, len(blocks), MaxBlocks)
	}
	return nil
}

// AppendPayloadV3 appends the unframed payload of c as a 5.x browser writes
// it, after ValidateCommandV3. It differs from AppendPayload only in the id
// lists of an announcement: a block may hold all 256 ids (count written as
// 0), so a seed can announce a long window in fewer, fuller groups.
func AppendPayloadV3(dst []byte, c Command) ([]byte, error) {
	if err := ValidateCommandV3(c); err != nil {
		return nil, err
	}
	if c.Type != SegmentsAnnouncement {
		return AppendPayload(dst, c)
	}
	dst = append(dst, byte(c.Type))
	if len(c.Loaded) > 0 {
		dst = appendSimilarIntArrayV3(append(dst, fieldLoaded), c.Loaded)
	}
	if len(c.Loading) > 0 {
		dst = appendSimilarIntArrayV3(append(dst, fieldLoading), c.Loading)
	}
	return dst, nil
}

// EncodeCommandV3 serializes c into the frames a 5.x browser would send for
// it (see AppendPayloadV3 and FramePayload; the framing is unchanged).
func EncodeCommandV3(c Command, maxMessage int) ([][]byte, error) {
	payload, err := AppendPayloadV3(nil, c)
	if err != nil {
		return nil, err
	}
	return FramePayload(payload, maxMessage)
}

// appendSimilarIntArrayV3 writes ids, already validated as unique and
// within MaxBlocks blocks, grouped by block in first-seen order as
// serializeSimilarIntArray does, each group's count in the low byte of its
// Int (256 wraps to 0).
func appendSimilarIntArrayV3(dst []byte, ids []int64) []byte {
	var order []int64
	groups := make(map[int64][]byte)
	for _, id := range ids {
		block := id &^ 0xff
		if _, ok := groups[block]; !ok {
			order = append(order, block)
		}
		groups[block] = append(groups[block], byte(id))
	}
	dst = append(dst, typeSimilarIntArray<<4, byte(len(order)))
	for _, block := range order {
		low := groups[block]
		dst = appendInt(dst, block|int64(len(low)&0xff))
		dst = append(dst, low...)
	}
	return dst
}

// DecodePayloadV3 parses an unframed command payload (as returned by a
// Joiner) as a 5.x peer does, stricter than DecodePayload: an unknown
// command type is ErrUnknownCommandV3; an integer of more than 7 bytes is
// malformed; every command but the announcement must carry i and r, and
// SegmentData also s; an id-list group of count 0 holds 256 ids. Fields may
// come in any order and unknown field names are skipped. It does not apply
// the exchange rules of ValidateCommandV3; a receiver calls both.
func DecodePayloadV3(p []byte) (Command, error) {
	if len(p) == 0 {
		return Command{}, fmt.Errorf("%w: empty command", ErrMalformed)
	}
	c := Command{Type: CommandType(p[0])}
	if c.Type > CancelSegmentRequest {
		return Command{}, fmt.Errorf("%w: %d", ErrUnknownCommandV3, p[0])
	}
	var hasID, hasRequest, hasSize bool
	for off := 1; off < len(p); {
		name := p[off]
		off++
		if off >= len(p) {
			return Command{}, fmt.Errorf("%w: field %q has no value", ErrMalformed, name)
		}
		switch p[off] >> 4 {
		case typeInt:
			v, n, err := decodeIntV3(p[off:])
			if err != nil {
				return Command{}, fmt.Errorf("field %q: %w", name, err)
			}
			off += n
			switch name {
			case fieldSegmentID:
				c.SegmentID, hasID = v, true
			case fieldRequestID:
				c.RequestID, hasRequest = v, true
			case fieldBytesFrom:
				c.BytesFrom = v
			case fieldSize:
				c.Size, hasSize = v, true
			}
		case typeSimilarIntArray:
			ids, n, err := decodeSimilarIntArrayV3(p[off:])
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
	if c.Type != SegmentsAnnouncement && (!hasID || !hasRequest) {
		return Command{}, fmt.Errorf("%w: %v without field i or r", ErrMalformed, c.Type)
	}
	if c.Type == SegmentData && !hasSize {
		return Command{}, fmt.Errorf("%w: SegmentData without field s", ErrMalformed)
	}
	return c, nil
}

// decodeIntV3 is decodeInt limited to the 7 magnitude bytes the 5.x decoder accepts.
func decodeIntV3(b []byte) (int64, int, error) {
	if n := int(b[0] & 0x0f); n > maxIntBytesV3 {
		return 0, 0, fmt.Errorf("%w: integer of %d bytes, at most %d", ErrMalformed, n, maxIntBytesV3)
	}
	return decodeInt(b)
}

// decodeSimilarIntArrayV3 reads an id list, a group count of 0 meaning 256.
func decodeSimilarIntArrayV3(b []byte) ([]int64, int, error) {
	if len(b) < 2 {
		return nil, 0, fmt.Errorf("%w: truncated id list header", ErrMalformed)
	}
	groups := int(b[1])
	off := 2
	ids := make([]int64, 0, min(len(b), 1<<16))
	for g := 0; g < groups; g++ {
		if off >= len(b) {
			return nil, 0, fmt.Errorf("%w: id list truncated at group %d of %d", ErrMalformed, g, groups)
		}
		v, n, err := decodeIntV3(b[off:])
		if err != nil {
			return nil, 0, fmt.Errorf("id list group %d: %w", g, err)
		}
		off += n
		count := int(v & 0xff)
		if count == 0 {
			count = MaxIDsPerBlockV3
		}
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
