package playlist

import (
	"encoding/binary"
	"fmt"
)

// sidxRef is one subsegment of a sidx box.
type sidxRef struct {
	start, end float64 // seconds in the sidx timescale, before any offset
	rng        ByteRange
}

// parseSIDX finds the first top-level sidx box in data, the bytes of a
// SegmentBase index range starting at byte offset in the media resource,
// and returns its references as Shaka 4 Mp4SegmentIndexParser does: the
// first subsegment starts at offset + sidx size + first_offset, times are
// (earliest_presentation_time + sum of durations) / timescale.
// Hierarchical (type 1) references are unsupported, as in Shaka.
func parseSIDX(data []byte, offset int64) ([]sidxRef, error) {
	for pos := 0; pos+8 <= len(data); {
		size := int64(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		hdr := int64(8)
		switch size {
		case 0:
			size = int64(len(data) - pos)
		case 1:
			if pos+16 > len(data) {
				return nil, fmt.Errorf("%w: truncated box header", ErrMalformed)
			}
			s := binary.BigEndian.Uint64(data[pos+8:])
			if s > uint64(len(data)-pos) {
				size = int64(len(data)-pos) + 1 // too large: caught below
			} else {
				size = int64(s)
			}
			hdr = 16
		}
		if size < hdr {
			return nil, fmt.Errorf("%w: box %q of size %d", ErrMalformed, typ, size)
		}
		if typ == "sidx" {
			if int64(len(data)-pos) < size {
				return nil, fmt.Errorf("%w: sidx of %d bytes truncated to %d", ErrMalformed, size, len(data)-pos)
			}
			return parseSIDXBody(data[pos+int(hdr):pos+int(size)], size, offset)
		}
		if int64(len(data)-pos) < size {
			break
		}
		pos += int(size)
	}
	return nil, fmt.Errorf("%w: no sidx box in the index range", ErrMalformed)
}

func parseSIDXBody(b []byte, boxSize, offset int64) ([]sidxRef, error) {
	r := reader{b: b}
	version := r.u8()
	r.skip(3) // flags
	r.skip(4) // reference_ID
	ts := r.u32()
	var ept, first uint64
	if version == 0 {
		ept, first = uint64(r.u32()), uint64(r.u32())
	} else {
		ept, first = r.u64(), r.u64()
	}
	r.skip(2)
	count := int(r.u16())
	if r.err {
		return nil, fmt.Errorf("%w: truncated sidx", ErrMalformed)
	}
	if ts == 0 {
		return nil, fmt.Errorf("%w: sidx timescale 0", ErrMalformed)
	}
	if count > MaxSegments {
		return nil, fmt.Errorf("%w: sidx of %d references", ErrTooLarge, count)
	}
	if ept > maxSafeInteger || first > maxSafeInteger {
		return nil, fmt.Errorf("%w: sidx time or offset above 2^53", ErrUnsupported)
	}
	refs := make([]sidxRef, 0, min(count, len(b)/12))
	t := int64(ept)
	pos := offset + boxSize + int64(first)
	for range count {
		chunk := r.u32()
		dur := int64(r.u32())
		r.skip(4)
		if r.err {
			return nil, fmt.Errorf("%w: truncated sidx", ErrMalformed)
		}
		if chunk>>31 == 1 {
			return nil, fmt.Errorf("%w: hierarchical sidx", ErrUnsupported)
		}
		size := int64(chunk & 0x7fffffff)
		if size == 0 {
			return nil, fmt.Errorf("%w: sidx reference of 0 bytes", ErrMalformed)
		}
		if pos+size > maxSafeInteger || t+dur > maxSafeInteger {
			return nil, fmt.Errorf("%w: sidx beyond 2^53", ErrUnsupported)
		}
		refs = append(refs, sidxRef{
			start: float64(t) / float64(ts), end: float64(t+dur) / float64(ts),
			rng: ByteRange{Start: pos, End: pos + size - 1},
		})
		t += dur
		pos += size
	}
	return refs, nil
}

// reader reads big-endian integers; err is set once it runs out of bytes.
type reader struct {
	b   []byte
	err bool
}

func (r *reader) take(n int) []byte {
	if r.err || len(r.b) < n {
		r.err = true
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) skip(n int)  { r.take(n) }
func (r *reader) u8() uint8   { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }
