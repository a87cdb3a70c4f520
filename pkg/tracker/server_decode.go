package tracker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// This file decodes the frames a tracker receives just enough to route them.
// It accepts what wire.DecodeTrackerMessage accepts (same JSON.parse rules:
// UTF-8, escaped member names, last duplicate wins, null means absent, binary
// strings of code points <= U+00FF, integers within ±2^53) and checks the
// members it uses the same way, but it does not unescape what it only forwards:
// an SDP and an offer_id stay the JSON string literals they arrived as (valid
// JSON, so copied verbatim into the relayed frame). That removes a decode, an
// allocation and a re-encode of about 1.3 KB per offer and answer; a
// differential fuzz test (FuzzDecodeIn) holds it to the wire decoder.
// Response-only members (interval, files, …) are skipped without a type
// check: a tracker has no use for them.

// Actions and events, as small enums.
const (
	actNone uint8 = iota
	actAnnounce
	actScrape
	actOther
)

const (
	evNone uint8 = iota
	evStarted
	evStopped
	evCompleted
	evUpdate
	evPaused
	evOther
)

// binID is a binary-string member decoded to bytes; valid only at exactly 20.
type binID struct {
	b id20
	n int // decoded length; 0 when absent or ""
}

func (id *binID) valid() bool { return id.n == 20 }

// emptyLit reports whether a raw string literal is absent or "".
func emptyLit(lit []byte) bool { return len(lit) <= 2 }

// str returns the id as a binary string when it is valid, else "".
func (id *binID) str() string {
	if !id.valid() {
		return ""
	}
	return string(id.b[:])
}

// inOffer is one element of "offers"; the fields are raw JSON literals, nil
// when absent or null.
type inOffer struct {
	offerID []byte // a non-empty binary string
	sdp     []byte
}

// inMessage is an incoming frame. Raw literals alias the frame buffer.
type inMessage struct {
	action       uint8
	event        uint8
	infoHash     binID
	infoHashList bool // info_hash was an array (a multi-hash scrape)
	peerID       binID
	toPeerID     binID
	numWant      int64
	hasNumWant   bool
	left         int64
	hasLeft      bool
	offerID      []byte // raw literal of a non-empty binary string, or nil
	offers       []inOffer
	hasAnswer    bool   // "answer" is an object
	answerType   []byte // raw literals, nil when absent or null
	answerSDP    []byte
}

// release clears every reference into the frame buffer, keeping the offers
// capacity.
func (m *inMessage) release() {
	offers := m.offers[:cap(m.offers)]
	clear(offers)
	*m = inMessage{offers: offers[:0]}
}

var errMalformed = errors.New("malformed")

// scanner reads JSON from a byte slice validated as UTF-8.
type scanner struct {
	b   []byte
	i   int
	key [24]byte // scratch for member names
	val [24]byte // scratch for small text values
}

// decodeIn decodes b into m (reset first, keeping the offers capacity).
func decodeIn(b []byte, m *inMessage) error {
	*m = inMessage{offers: m.offers[:0]}
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: invalid utf-8", errMalformed)
	}
	d := scanner{b: b}
	d.space()
	if err := d.object(func(key []byte) error { return d.member(m, key) }); err != nil {
		return err
	}
	d.space()
	if d.i != len(d.b) {
		return d.errorf("data after the object")
	}
	return nil
}

func (d *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", errMalformed, d.i, fmt.Sprintf(format, args...))
}

func (d *scanner) member(m *inMessage, key []byte) error {
	var err error
	switch string(key) {
	case "action":
		m.action, err = d.enum(actionNames, actNone, actOther)
	case "event":
		m.event, err = d.enum(eventNames, evNone, evOther)
	case "info_hash":
		m.infoHash, m.infoHashList = binID{}, false
		if d.peek() == '[' {
			m.infoHashList = true
			err = d.array(func() error {
				var id binID
				return d.binaryID(&id)
			})
		} else if !d.null() {
			err = d.binaryID(&m.infoHash)
		}
	case "peer_id":
		m.peerID = binID{}
		if !d.null() {
			err = d.binaryID(&m.peerID)
		}
	case "to_peer_id":
		m.toPeerID = binID{}
		if !d.null() {
			err = d.binaryID(&m.toPeerID)
		}
	case "offer_id":
		m.offerID, err = d.optRaw(true)
	case "numwant":
		m.numWant, m.hasNumWant, err = d.optInt()
	case "left":
		m.left, m.hasLeft, err = d.optInt()
	case "uploaded", "downloaded":
		_, _, err = d.optInt()
	case "trackerid":
		_, err = d.optRaw(false)
	case "offers":
		m.offers = m.offers[:0]
		if d.null() {
			return nil
		}
		err = d.array(func() error {
			var o inOffer
			err := d.object(func(key []byte) error {
				switch string(key) {
				case "offer":
					o.sdp = nil
					if d.null() {
						return nil
					}
					return d.sdp(nil, &o.sdp)
				case "offer_id":
					var err error
					o.offerID, err = d.optRaw(true)
					return err
				default:
					return d.skip(1)
				}
			})
			m.offers = append(m.offers, o)
			return err
		})
	case "offer":
		if !d.null() {
			var typ, sdp []byte
			err = d.sdp(&typ, &sdp)
		}
	case "answer":
		m.hasAnswer, m.answerType, m.answerSDP = false, nil, nil
		if !d.null() {
			m.hasAnswer = true
			err = d.sdp(&m.answerType, &m.answerSDP)
		}
	default:
		return d.skip(1)
	}
	if err != nil {
		return fmt.Errorf("member %q: %w", key, err)
	}
	return nil
}

var (
	actionNames = map[string]uint8{"announce": actAnnounce, "scrape": actScrape}
	eventNames  = map[string]uint8{"started": evStarted, "stopped": evStopped, "completed": evCompleted,
		"update": evUpdate, "paused": evPaused}
)

// enum reads a text string (or null: none) and maps it; "" is none too, as an
// empty string is an absent field in wire.TrackerMessage.
func (d *scanner) enum(names map[string]uint8, none, other uint8) (uint8, error) {
	if d.null() {
		return none, nil
	}
	v, long, err := d.smallText()
	if err != nil {
		return none, err
	}
	switch {
	case len(v) == 0 && !long:
		return none, nil
	case long:
		return other, nil
	}
	if e, ok := names[string(v)]; ok {
		return e, nil
	}
	return other, nil
}

// sdp reads a {"type","sdp"} object, keeping both strings raw (nil when absent
// or null). typ may be nil when the type is not wanted.
func (d *scanner) sdp(typ, sdp *[]byte) error {
	return d.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "type":
			var v []byte
			v, err = d.optRaw(false)
			if typ != nil {
				*typ = v
			}
		case "sdp":
			*sdp, err = d.optRaw(false)
		default:
			err = d.skip(1)
		}
		return err
	})
}

// optRaw reads a string and returns its literal (quotes included), or nil for
// null. In binary mode an empty string is nil too.
func (d *scanner) optRaw(binary bool) ([]byte, error) {
	if d.null() {
		return nil, nil
	}
	start := d.i
	n, err := d.str(binary, nil)
	if err != nil {
		return nil, err
	}
	if binary && n == 0 {
		return nil, nil
	}
	return d.b[start:d.i], nil
}

// binaryID decodes a binary string into id (up to 20 bytes kept, n counts all).
func (d *scanner) binaryID(id *binID) error {
	*id = binID{}
	n, err := d.str(true, id)
	id.n = n
	return err
}

// smallText decodes a text string into the scratch buffer; long reports it
// did not fit.
func (d *scanner) smallText() (v []byte, long bool, err error) {
	if d.peek() != '"' {
		return nil, false, d.errorf("want a string")
	}
	start := d.i
	n, err := d.str(false, nil)
	if err != nil {
		return nil, false, err
	}
	lit := d.b[start+1 : d.i-1]
	if n > len(d.val) {
		return nil, true, nil
	}
	v, ok := decodeInto(d.val[:0], lit)
	return v, !ok, nil
}

// str validates a string starting at d.i (which must be '"'). It returns the
// decoded length: bytes in binary mode (each code point <= U+00FF is one
// byte), UTF-8 bytes otherwise. In binary mode with id set, the first 20
// bytes are stored there. Lone surrogate escapes are errors, as in the wire
// decoder (no Go string or binary string can hold them).
func (d *scanner) str(binary bool, id *binID) (int, error) {
	if d.peek() != '"' {
		return 0, d.errorf("want a string")
	}
	d.i++
	n := 0
	put := func(c byte) {
		if id != nil && n < 20 {
			id.b[n] = c
		}
		n++
	}
	for {
		if d.i >= len(d.b) {
			return 0, d.errorf("unterminated string")
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return n, nil
		case c < 0x20:
			return 0, d.errorf("control character in string")
		case c == '\\' && !binary && d.i+1 < len(d.b) && simpleEscape[d.b[d.i+1]]:
			// \r, \n and friends: every SDP line ends in two of them.
			d.i += 2
			n++
		case c == '\\':
			r, err := d.escape()
			if err != nil {
				return 0, err
			}
			if binary {
				if r > 0xFF {
					return 0, d.errorf("code point U+%04X above U+00FF in a binary string", r)
				}
				put(byte(r))
			} else {
				n += utf8.RuneLen(r)
			}
		case c < utf8.RuneSelf:
			if binary {
				put(c)
			} else {
				// Fast path for text: runs of plain ASCII, 8 bytes at a time.
				j := d.i + 1
				for j+8 <= len(d.b) && !special8(littleEndian.Uint64(d.b[j:])) {
					j += 8
				}
				for j < len(d.b) && plainASCII[d.b[j]] {
					j++
				}
				n += j - d.i
				d.i = j
				continue
			}
			d.i++
			continue
		default:
			r, size := utf8.DecodeRune(d.b[d.i:]) // the frame is valid UTF-8
			if binary {
				if r > 0xFF {
					return 0, d.errorf("code point U+%04X above U+00FF in a binary string", r)
				}
				put(byte(r))
			} else {
				n += size
			}
			d.i += size
			continue
		}
	}
}

// simpleEscape marks the characters after '\\' that make a one-byte escape.
var simpleEscape = [256]bool{'"': true, '\\': true, '/': true, 'b': true, 'f': true, 'n': true, 'r': true, 't': true}

// plainASCII marks the bytes a JSON string holds as they are: printable ASCII
// except '"' and '\\'.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// littleEndian is binary.LittleEndian under a name that str's binary
// parameter does not shadow.
var littleEndian = binary.LittleEndian

// special8 reports whether any of the 8 bytes in x is not plain ASCII (see
// plainASCII): below 0x20, '"', '\\' or 0x80 and above. The classic
// has-zero-byte test (x-0x01…)&^x&0x80… finds bytes < n when n <= 0x80.
func special8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := func(v uint64, n uint64) uint64 { return (v - ones*n) &^ v & highs }
	return (below(x, 0x20) | below(x^(ones*'"'), 1) | below(x^(ones*'\\'), 1) | x&highs) != 0
}

// escape reads one escape sequence at d.i ('\\') and returns its code point.
func (d *scanner) escape() (rune, error) {
	if d.i+1 >= len(d.b) {
		return 0, d.errorf("unterminated escape")
	}
	c := d.b[d.i+1]
	d.i += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := d.hex4()
		if err != nil {
			return 0, err
		}
		if r < 0xD800 || r > 0xDFFF {
			return r, nil
		}
		if r <= 0xDBFF && len(d.b)-d.i >= 2 && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
			d.i += 2
			lo, err := d.hex4()
			if err != nil {
				return 0, err
			}
			if lo >= 0xDC00 && lo <= 0xDFFF {
				return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), nil
			}
		}
		return 0, d.errorf("lone surrogate escape")
	default:
		return 0, d.errorf("invalid escape")
	}
}

func (d *scanner) hex4() (rune, error) {
	if len(d.b)-d.i < 4 {
		return 0, d.errorf("short \\u escape")
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, d.errorf("invalid \\u escape")
		}
	}
	d.i += 4
	return r, nil
}

// decodeInto unescapes a validated string body (no quotes) into dst; false if
// it holds a lone surrogate (only possible in member names, see key).
func decodeInto(dst, lit []byte) ([]byte, bool) {
	d := scanner{b: lit}
	for d.i < len(lit) {
		c := lit[d.i]
		if c != '\\' {
			dst = append(dst, c)
			d.i++
			continue
		}
		r, err := d.escape()
		if err != nil {
			return dst, false
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, true
}

// memberName reads a member name into the scratch buffer. A name that does
// not fit, or holds a lone surrogate escape, matches no member we know, as in
// the wire decoder (where such an escape reads as U+FFFD).
func (d *scanner) memberName() ([]byte, error) {
	if d.peek() != '"' {
		return nil, d.errorf("want a member name")
	}
	start := d.i
	if err := d.skipString(); err != nil {
		return nil, err
	}
	lit := d.b[start+1 : d.i-1]
	if len(lit) > 6*len(d.key) {
		return nil, nil
	}
	v, ok := decodeInto(d.key[:0], lit)
	if !ok || len(v) > len(d.key) {
		return nil, nil
	}
	return v, nil
}

func (d *scanner) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *scanner) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *scanner) null() bool {
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// object reads an object, calling member with each name (valid until the next
// name is read) and the scanner at the start of the value.
func (d *scanner) object(member func(key []byte) error) error {
	if d.peek() != '{' {
		return d.errorf("want an object")
	}
	d.i++
	d.space()
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		key, err := d.memberName()
		if err != nil {
			return err
		}
		d.space()
		if d.peek() != ':' {
			return d.errorf("want ':'")
		}
		d.i++
		d.space()
		if key == nil {
			err = d.skip(1)
		} else {
			err = member(key)
		}
		if err != nil {
			return err
		}
		d.space()
		switch d.peek() {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("want ',' or '}'")
		}
	}
}

func (d *scanner) array(elem func() error) error {
	if d.peek() != '[' {
		return d.errorf("want an array")
	}
	d.i++
	d.space()
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		d.space()
		switch d.peek() {
		case ',':
			d.i++
			d.space()
		case ']':
			d.i++
			return nil
		default:
			return d.errorf("want ',' or ']'")
		}
	}
}

func (d *scanner) optInt() (int64, bool, error) {
	if d.null() {
		return 0, false, nil
	}
	v, err := d.int()
	return v, err == nil, err
}

// int reads a number with an integral value within ±(2^53-1).
func (d *scanner) int() (int64, error) {
	start := d.i
	if err := d.number(); err != nil {
		return 0, err
	}
	text := d.b[start:d.i]
	if v, err := strconv.ParseInt(string(text), 10, 64); err == nil && v >= -jsMaxSafe && v <= jsMaxSafe {
		return v, nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil || f != math.Trunc(f) || f < -jsMaxSafe || f > jsMaxSafe {
		return 0, d.errorf("number %s is not an integer within ±2^53", text)
	}
	return int64(f), nil
}

// jsMaxSafe is JavaScript's Number.MAX_SAFE_INTEGER.
const jsMaxSafe = 1<<53 - 1

func (d *scanner) number() error {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.peek() == '-' {
		d.i++
	}
	switch {
	case d.peek() == '0':
		d.i++
	case digits() == 0:
		return d.errorf("invalid number")
	}
	if d.peek() == '.' {
		d.i++
		if digits() == 0 {
			return d.errorf("invalid number")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if digits() == 0 {
			return d.errorf("invalid number")
		}
	}
	return nil
}

// skip validates and skips any value (lone surrogate escapes allowed: they are
// valid JSON).
func (d *scanner) skip(depth int) error {
	if depth > maxSkipDepth {
		return d.errorf("nesting deeper than %d", maxSkipDepth)
	}
	switch c := d.peek(); {
	case c == '{':
		return d.object(func([]byte) error { return d.skip(depth + 1) })
	case c == '[':
		return d.array(func() error { return d.skip(depth + 1) })
	case c == '"':
		return d.skipString()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
				d.i += len(lit)
				return nil
			}
		}
		return d.errorf("invalid value")
	}
}

// maxSkipDepth bounds the nesting of skipped values (as wire's maxTrackerDepth).
const maxSkipDepth = 64

func (d *scanner) skipString() error {
	d.i++ // opening quote
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return nil
		case c < 0x20:
			return d.errorf("control character in string")
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return d.errorf("unterminated escape")
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, err := d.hex4(); err != nil {
					return err
				}
			default:
				return d.errorf("invalid escape")
			}
		default:
			d.i++
		}
	}
	return d.errorf("unterminated string")
}
