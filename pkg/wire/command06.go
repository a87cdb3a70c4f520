package wire

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxCommand06Bytes bounds the 0.6 commands DecodeCommand06 reads. The
// browser has no limit, but its maps hold at most its cache (30 segments by
// default) and its other commands one segment id.
const MaxCommand06Bytes = 1 << 20

// CommandCode06 is field c of a 0.6 command
// (MediaPeerCommands in p2p-media-loader-core/lib/media-peer.ts@0.6.2 L21-27).
type CommandCode06 uint8

// The five commands of the 0.6 peer protocol.
const (
	// SegmentData06 (c:0) announces s bytes of segment i; raw chunks follow.
	SegmentData06 CommandCode06 = 0
	// SegmentAbsent06 (c:1) answers a request for segment i the peer does not hold.
	SegmentAbsent06 CommandCode06 = 1
	// SegmentsMap06 (c:2) is the complete list of segments a peer holds or
	// is downloading over HTTP, field m.
	SegmentsMap06 CommandCode06 = 2
	// SegmentRequest06 (c:3) asks for segment i.
	SegmentRequest06 CommandCode06 = 3
	// CancelSegmentRequest06 (c:4) withdraws the request for segment i.
	CancelSegmentRequest06 CommandCode06 = 4
)

// String returns the upstream name of c.
func (c CommandCode06) String() string {
	switch c {
	case SegmentData06:
		return "SegmentData"
	case SegmentAbsent06:
		return "SegmentAbsent"
	case SegmentsMap06:
		return "SegmentsMap"
	case SegmentRequest06:
		return "SegmentRequest"
	case CancelSegmentRequest06:
		return "CancelSegmentRequest"
	}
	return fmt.Sprintf("CommandCode06(%d)", uint8(c))
}

// SegmentStatus06 is a segment's status in a 0.6 segments map
// (MediaPeerSegmentStatus, media-peer.ts@0.6.2 L28-31).
type SegmentStatus06 uint8

// The two statuses a map may carry.
const (
	// Loaded06 segments can be requested.
	Loaded06 SegmentStatus06 = 0
	// LoadingByHTTP06 segments are being downloaded over HTTP; the browser
	// never requests them, but leaves them out of its random HTTP downloads.
	LoadingByHTTP06 SegmentStatus06 = 1
)

// MapSegment06 is one segment of a segments map.
type MapSegment06 struct {
	ShortID string // never contains '|'
	Status  SegmentStatus06
}

// MapEntry06 lists the segments a map reports for one stream swarm. The full
// id of each is SegmentID06(StreamSwarmID, ShortID).
type MapEntry06 struct {
	StreamSwarmID string
	Segments      []MapSegment06
}

// Command06 is one P2P Media Loader 0.6 peer command. Which fields are
// meaningful depends on Code: ID for all but SegmentsMap06, Size for
// SegmentData06, Map for SegmentsMap06.
type Command06 struct {
	Code CommandCode06
	// ID is field i, a full segment id (see SegmentID06).
	ID string
	// Size is field s, the number of bytes that follow a SegmentData06
	// header, a JavaScript number: at most 2^53-1.
	Size int64
	// Map is field m in the browser's key order. Decoding never yields an
	// entry without segments; AppendCommand06 omits such entries.
	Map []MapEntry06
}

// IsCommand06 reports whether a data-channel message passes the browser's
// cheap test for a command: first byte '{', second '"', last '}'
// (getJsonCommand, media-peer.ts@0.6.2 L115-127). The browser then also
// requires JSON.parse to accept the text; otherwise the message is segment
// data. DecodeCommand06 applies both tests.
func IsCommand06(msg []byte) bool {
	return len(msg) >= 3 && msg[0] == '{' && msg[1] == '"' && msg[len(msg)-1] == '}'
}

// DecodeCommand06 reads a data-channel message as the 0.6.2 browser does:
// TextDecoder (invalid UTF-8 becomes U+FFFD), JSON.parse (a repeated member
// keeps the last value), then the fields its command switch and
// createSegmentsMap use; unknown members are ignored. Numbers are compared as
// JavaScript numbers, so "c":3.0 is a request. A lone surrogate escape in a
// string, which Go text cannot hold, reads as U+FFFD.
//
// Like the browser, it returns a SegmentsMap06 with an empty Map when m is
// missing, not an object, or has any malformed entry (not a [string, array]
// pair, id and status counts differ, or a status other than 0 or 1).
//
// Errors wrap ErrMalformed. Those that also wrap ErrNotCommand06 mean the
// browser would take the message for segment data (the IsCommand06 test or
// JSON.parse fails); the others mean it would take it for a command and then
// ignore it (unknown c, or i, s of the wrong type), which still interrupts a
// segment transfer. Messages over MaxCommand06Bytes also wrap ErrLimit.
func DecodeCommand06(msg []byte) (Command06, error) {
	if len(msg) > MaxCommand06Bytes {
		return Command06{}, fmt.Errorf("%w: %w: command of %d bytes > %d", ErrMalformed, ErrLimit, len(msg), MaxCommand06Bytes)
	}
	if !IsCommand06(msg) {
		return Command06{}, fmt.Errorf("%w: %w: does not start with {\" and end with }", ErrMalformed, ErrNotCommand06)
	}
	d := cmd06Decoder{trackerScanner: trackerScanner{b: decodeUTF8WHATWG(msg)}}
	if err := d.validate(); err != nil {
		return Command06{}, fmt.Errorf("%w: %w: %w", ErrMalformed, ErrNotCommand06, err)
	}
	var c, i, s, m span06 // value of the last occurrence of each member
	d.i = 0
	_ = d.members(func(key string) error {
		v := span06{start: d.i}
		d.skipValid()
		v.end = d.i
		switch key {
		case "c":
			c = v
		case "i":
			i = v
		case "s":
			s = v
		case "m":
			m = v
		}
		return nil
	})

	code, ok := d.jsNumber(c)
	if !ok || code != math.Trunc(code) || code < 0 || code > float64(CancelSegmentRequest06) {
		return Command06{}, fmt.Errorf("%w: command06: c is %s, not a command code", ErrMalformed, d.text(c))
	}
	cmd := Command06{Code: CommandCode06(code)}
	if cmd.Code == SegmentsMap06 {
		cmd.Map = d.segmentsMap(m)
		return cmd, nil
	}
	id, ok := d.jsString(i)
	if !ok {
		return Command06{}, fmt.Errorf("%w: command06 %v: i is %s, not a string", ErrMalformed, cmd.Code, d.text(i))
	}
	cmd.ID = id
	if cmd.Code == SegmentData06 {
		size, ok := d.jsNumber(s)
		if !ok || size != math.Trunc(size) || size < 0 || size > jsMaxSafeInteger {
			return Command06{}, fmt.Errorf("%w: command06 %v: s is %s, not a size", ErrMalformed, cmd.Code, d.text(s))
		}
		cmd.Size = int64(size)
	}
	return cmd, nil
}

// AppendCommand06 appends c as the browser's JSON.stringify writes it, with
// members in its order (c, i, s / c, m) and no whitespace, so the bytes equal
// the browser's and pass IsCommand06. Strings are escaped as JSON.stringify
// does (invalid UTF-8 is written as U+FFFD). Map entries without segments are
// left out: the browser would read ["",[]] as one id "" with no status and
// drop the whole map. Short ids must not contain '|' and stream swarm ids
// must be distinct. Any other Code is written as {"c":N}, which the browser
// ignores.
func AppendCommand06(dst []byte, c Command06) []byte {
	dst = append(dst, `{"c":`...)
	dst = strconv.AppendUint(dst, uint64(c.Code), 10)
	switch c.Code {
	case SegmentData06:
		dst = append(dst, `,"i":`...)
		dst = AppendJSONString(dst, c.ID, false)
		dst = append(dst, `,"s":`...)
		dst = strconv.AppendInt(dst, c.Size, 10)
	case SegmentAbsent06, SegmentRequest06, CancelSegmentRequest06:
		dst = append(dst, `,"i":`...)
		dst = AppendJSONString(dst, c.ID, false)
	case SegmentsMap06:
		dst = append(dst, `,"m":{`...)
		first := true
		for _, e := range c.Map {
			if len(e.Segments) == 0 {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = AppendJSONString(dst, e.StreamSwarmID, false)
			dst = append(dst, `:["`...)
			for k, s := range e.Segments {
				if k > 0 {
					dst = append(dst, '|')
				}
				// Escape each id alone and drop its quotes: no copy of the joined list.
				at := len(dst)
				dst = AppendJSONString(dst, s.ShortID, false)
				copy(dst[at:], dst[at+1:len(dst)-1])
				dst = dst[:len(dst)-2]
			}
			dst = append(dst, `",[`...)
			for k, s := range e.Segments {
				if k > 0 {
					dst = append(dst, ',')
				}
				dst = strconv.AppendUint(dst, uint64(s.Status), 10)
			}
			dst = append(dst, "]]"...)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// NextChunkLen06 returns how many bytes of data to send in the next raw
// segment-data message after a SegmentData06 header: at most maxMessage
// (DefaultMaxMessageSize when <= 0), which is also the browser's
// webRtcMaxMessageSize. A chunk that starts with {" and ends with } could be
// taken by the browser for a command (if it also parses as JSON), which
// aborts the transfer, so such a chunk is shortened until its last byte is
// not '}'; the bytes go out at the start of the next chunk. The result is at
// least 1 for non-empty data.
func NextChunkLen06(data []byte, maxMessage int) int {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessageSize
	}
	n := min(len(data), maxMessage)
	for n > 2 && IsCommand06(data[:n]) {
		n-- // stops at 2 at the latest: `{"` does not end with '}'
	}
	return n
}

// span06 is the text of one JSON value in the decoded message; end == 0
// means the member was absent.
type span06 struct{ start, end int }

// cmd06Decoder reads the JSON of a 0.6 command with the tracker codec's
// lexer (trackerScanner). Unlike tracker messages, names and strings may be
// of any length and lone surrogate escapes read as U+FFFD (see unescape06).
type cmd06Decoder struct {
	trackerScanner
}

// members reads an object, calling member with each decoded name and the
// scanner at the start of its value.
func (d *cmd06Decoder) members(member func(name string) error) error {
	return d.object(func(_, lit []byte) error { return member(unescape06(lit)) })
}

// string06 reads a string that validate accepted.
func (d *cmd06Decoder) string06() string {
	start := d.i
	_ = d.skipString()
	return unescape06(d.b[start+1 : d.i-1])
}

// unescape06 returns the text of a string body (no quotes) that skipString
// accepted. A lone surrogate escape, which JSON.parse keeps and the
// browser's TextEncoder turns into U+FFFD, becomes U+FFFD.
func unescape06(lit []byte) string {
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit)
	}
	out := make([]byte, 0, len(lit))
	d := trackerScanner{b: lit}
	for d.i < len(lit) {
		j := bytes.IndexByte(lit[d.i:], '\\')
		if j < 0 {
			out = append(out, lit[d.i:]...)
			break
		}
		out = append(out, lit[d.i:d.i+j]...)
		d.i += j
		start := d.i
		r, err := d.escape()
		if err != nil {
			// The one error left after skipString: a lone surrogate. Its six
			// bytes become U+FFFD; what follows is read on its own.
			r, d.i = utf8.RuneError, start+6
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}

func (d *cmd06Decoder) text(v span06) string {
	if v.end == 0 {
		return "missing"
	}
	const max = 40
	if v.end-v.start > max {
		return strconv.Quote(string(d.b[v.start:v.start+max])) + "…"
	}
	return strconv.Quote(string(d.b[v.start:v.end]))
}

// jsNumber returns the value of a JSON number as JSON.parse reads it.
func (d *cmd06Decoder) jsNumber(v span06) (float64, bool) {
	if v.end == 0 || (d.b[v.start] != '-' && (d.b[v.start] < '0' || d.b[v.start] > '9')) {
		return 0, false
	}
	// Overflow gives ±Inf and underflow ±0, as in JavaScript.
	f, _ := strconv.ParseFloat(string(d.b[v.start:v.end]), 64)
	return f, true
}

// jsString returns the value of a JSON string.
func (d *cmd06Decoder) jsString(v span06) (string, bool) {
	if v.end == 0 || d.b[v.start] != '"' {
		return "", false
	}
	d.i = v.start
	return d.string06(), true
}

// segmentsMap follows createSegmentsMap (media-peer.ts@0.6.2 L182-216):
// any malformed entry empties the whole map. Entries come in the order of
// Object.keys: array-index keys ascending, then the others in order of first
// appearance, each with the value of its last appearance.
func (d *cmd06Decoder) segmentsMap(v span06) []MapEntry06 {
	if v.end == 0 {
		return nil
	}
	type member struct {
		key string
		val span06
	}
	var members []member
	d.i = v.start
	switch d.b[v.start] {
	case '{':
		at := map[string]int{}
		_ = d.members(func(key string) error {
			val := span06{start: d.i}
			d.skipValid()
			val.end = d.i
			if k, ok := at[key]; ok {
				members[k].val = val
				return nil
			}
			at[key] = len(members)
			members = append(members, member{key, val})
			return nil
		})
	case '[': // an array is an Object too; its keys are "0", "1", …
		_ = d.array(func() error {
			val := span06{start: d.i}
			d.skipValid()
			val.end = d.i
			members = append(members, member{strconv.Itoa(len(members)), val})
			return nil
		})
	default: // null, string, number, boolean: not instanceof Object
		return nil
	}
	sort.SliceStable(members, func(a, b int) bool {
		ia, aok := arrayIndex(members[a].key)
		ib, bok := arrayIndex(members[b].key)
		return aok && (!bok || ia < ib)
	})

	entries := make([]MapEntry06, 0, len(members))
	for _, m := range members {
		segs, ok := d.mapValue(m.val)
		if !ok {
			return nil
		}
		entries = append(entries, MapEntry06{StreamSwarmID: m.key, Segments: segs})
	}
	if len(entries) == 0 {
		return nil
	}
	return entries
}

// mapValue reads one ["id|id|…", [status, …]] map value.
func (d *cmd06Decoder) mapValue(v span06) ([]MapSegment06, bool) {
	d.i = v.start
	var ids string
	var statuses []SegmentStatus06
	n, ok := 0, true
	err := d.array(func() error {
		switch n++; n {
		case 1:
			if d.peek() != '"' {
				ok = false
				return d.skipValid()
			}
			ids = d.string06()
		case 2:
			if d.peek() != '[' {
				ok = false
				return d.skipValid()
			}
			return d.array(func() error {
				start := d.i
				d.skipValid()
				switch f, isNum := d.jsNumber(span06{start, d.i}); {
				case isNum && f == 0: // -0 too: MediaPeerSegmentStatus[-0] is "Loaded"
					statuses = append(statuses, Loaded06)
				case isNum && f == 1:
					statuses = append(statuses, LoadingByHTTP06)
				default:
					ok = false
				}
				return nil
			})
		default:
			return d.skipValid()
		}
		return nil
	})
	if err != nil || !ok || n != 2 {
		return nil, false
	}
	if strings.Count(ids, "|")+1 != len(statuses) {
		return nil, false
	}
	segs := make([]MapSegment06, len(statuses))
	for k := range segs {
		short, rest, _ := strings.Cut(ids, "|")
		segs[k] = MapSegment06{ShortID: short, Status: statuses[k]}
		ids = rest
	}
	return segs, true
}

// arrayIndex reports whether key is a JavaScript array index (a canonical
// decimal below 2^32-1), which Object.keys lists first, in numeric order.
func arrayIndex(key string) (uint64, bool) {
	if key == "" || len(key) > 10 || (key[0] == '0' && len(key) > 1) {
		return 0, false
	}
	n, err := strconv.ParseUint(key, 10, 64)
	if err != nil || n >= 1<<32-1 {
		return 0, false
	}
	return n, true
}

// validate checks that the whole input is one JSON value, as JSON.parse
// requires, without recursion: JSON.parse accepts any nesting depth.
func (d *cmd06Decoder) validate() error {
	d.i = 0
	var stack []byte // open '{' and '['
	d.space()
	for {
		// A value is expected here.
		switch c := d.peek(); {
		case c == '{' || c == '[':
			d.i++
			d.space()
			if d.peek() == c+2 { // '}' or ']'
				d.i++
				break
			}
			stack = append(stack, c)
			if c == '{' {
				if err := d.validName(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if err := d.skipString(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if _, err := d.number(); err != nil {
				return err
			}
		default:
			if !d.literal() {
				return d.errorf("invalid value")
			}
		}
		// After a value: close containers or move to the next element.
		for {
			d.space()
			if len(stack) == 0 {
				if d.i != len(d.b) {
					return d.errorf("data after the value")
				}
				return nil
			}
			top := stack[len(stack)-1]
			c := d.peek()
			if c == top+2 {
				d.i++
				stack = stack[:len(stack)-1]
				continue
			}
			if c != ',' {
				return d.errorf("want ',' or %q", top+2)
			}
			d.i++
			d.space()
			if top == '{' {
				if err := d.validName(); err != nil {
					return err
				}
			}
			break
		}
	}
}

// validName reads `"name":` and the whitespace after it.
func (d *cmd06Decoder) validName() error {
	if d.peek() != '"' {
		return d.errorf("want a member name")
	}
	if err := d.skipString(); err != nil {
		return err
	}
	d.space()
	if d.peek() != ':' {
		return d.errorf("want ':'")
	}
	d.i++
	d.space()
	return nil
}

func (d *cmd06Decoder) literal() bool {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
			d.i += len(lit)
			return true
		}
	}
	return false
}

// skipValid skips one value of input that validate accepted, without
// recursion. It always returns nil; the error result suits the callbacks of
// object and array.
func (d *cmd06Decoder) skipValid() error {
	depth := 0
	for d.i < len(d.b) {
		switch c := d.b[d.i]; c {
		case '"':
			_ = d.skipString()
		case '{', '[':
			depth++
			d.i++
		case '}', ']':
			depth--
			d.i++
		case ',', ':', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return nil
			}
			d.i++
		default: // number or literal
			if depth == 0 {
				for d.i < len(d.b) && !strings.ContainsRune(",}] \t\n\r", rune(d.b[d.i])) {
					d.i++
				}
				return nil
			}
			d.i++
		}
		if depth == 0 {
			return nil
		}
	}
	return nil
}

// decodeUTF8WHATWG returns b with every maximal invalid UTF-8 subsequence
// replaced by U+FFFD, as TextDecoder("utf-8") does (WHATWG Encoding §8.1.1;
// Go's utf8 package would replace each invalid byte instead).
func decodeUTF8WHATWG(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c >= 0xE0 && c <= 0xEF:
			need = 2
			if c == 0xE0 {
				lo = 0xA0
			} else if c == 0xED {
				hi = 0x9F
			}
		case c >= 0xF0 && c <= 0xF4:
			need = 3
			if c == 0xF0 {
				lo = 0x90
			} else if c == 0xF4 {
				hi = 0x8F
			}
		default:
			out = append(out, "\uFFFD"...)
			i++
			continue
		}
		j := i + 1
		for k := 0; k < need && j < len(b) && b[j] >= lo && b[j] <= hi; k++ {
			lo, hi = 0x80, 0xBF
			j++
		}
		if j-i == need+1 {
			out = append(out, b[i:j]...)
		} else {
			out = append(out, "\uFFFD"...) // the offending byte is read again
		}
		i = j
	}
	return out
}
