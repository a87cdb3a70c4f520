package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// trackerScanner is the one JSON lexer of the tracker codec, under both
// DecodeTrackerMessage (values copied into Go strings) and
// DecodeRawTrackerMessage (strings left as literals aliasing the frame). It
// reads JSON as JSON.parse does, from input already checked to be valid UTF-8:
// no trailing commas, no leading zeros, only the JSON escapes, no raw control
// characters in strings. Member names may be escaped; a name that holds a lone
// surrogate escape (valid JSON) or is longer than any known member matches
// none, so its value is skipped. A string the decoders use must not hold a
// lone surrogate escape: Go text cannot carry one and no binary string does.
//
// It validates a string once, counting its decoded length, and unescapes it
// only if a caller wants the value and it holds escapes (every SDP does: its
// lines end in \r\n). Runs of plain ASCII are scanned 8 bytes at a time, so a
// 1.3 KB SDP costs about a byte-compare per 8 bytes.
type trackerScanner struct {
	b   []byte
	i   int
	key [24]byte // scratch for member names
	val [24]byte // scratch for small text values (enums)
}

// errorf returns a syntax error at the current offset; the decoders wrap it
// with ErrMalformed.
func (d *trackerScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *trackerScanner) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *trackerScanner) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// null consumes a JSON null, if that is what comes next.
func (d *trackerScanner) null() bool {
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// object reads an object, calling member for each member with the scanner at
// the start of its value (whitespace skipped). key is the decoded name, valid
// until the next name is read, or nil when it can match no known member; lit
// is the name's literal without quotes, aliasing the input.
func (d *trackerScanner) object(member func(key, lit []byte) error) error {
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
		if d.peek() != '"' {
			return d.errorf("want a member name")
		}
		start := d.i
		if err := d.skipString(); err != nil {
			return err
		}
		lit := d.b[start+1 : d.i-1]
		key := d.memberName(lit)
		d.space()
		if d.peek() != ':' {
			return d.errorf("want ':'")
		}
		d.i++
		d.space()
		if err := member(key, lit); err != nil {
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

// memberName unescapes a validated member name into the scratch buffer. A
// name that does not fit, or holds a lone surrogate escape, gives nil.
func (d *trackerScanner) memberName(lit []byte) []byte {
	if len(lit) > 6*len(d.key) {
		return nil
	}
	if bytes.IndexByte(lit, '\\') < 0 {
		if len(lit) > len(d.key) {
			return nil
		}
		return append(d.key[:0], lit...)
	}
	v, ok := unescapeText(d.key[:0], lit)
	if !ok || len(v) > len(d.key) {
		return nil
	}
	return v
}

// array reads an array, calling elem with the scanner at each element.
func (d *trackerScanner) array(elem func() error) error {
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

// literal reads a string and returns its literal, quotes included, aliasing
// the input, and its decoded length (see str). The literal holds no escape,
// and in binary mode no byte above 0x7F, exactly when n == len(lit)-2.
func (d *trackerScanner) literal(binary bool) (lit []byte, n int, err error) {
	start := d.i
	n, err = d.str(binary, nil)
	if err != nil {
		return nil, 0, err
	}
	return d.b[start:d.i], n, nil
}

// string reads a string into a Go string: text (UTF-8) or, in binary mode,
// one byte per code point.
func (d *trackerScanner) string(binary bool) (string, error) {
	lit, n, err := d.literal(binary)
	if err != nil {
		return "", err
	}
	body := lit[1 : len(lit)-1]
	if n == len(body) {
		return string(body), nil
	}
	if binary {
		return string(unescapeBinary(make([]byte, 0, n), body)), nil
	}
	v, _ := unescapeText(make([]byte, 0, n), body) // validated: no lone surrogate
	return string(v), nil
}

func (d *trackerScanner) optString(binary bool) (string, error) {
	if d.null() {
		return "", nil
	}
	return d.string(binary)
}

// smallText reads a text string into the scratch buffer; long reports that
// it did not fit (then v is nil).
func (d *trackerScanner) smallText() (v []byte, long bool, err error) {
	lit, n, err := d.literal(false)
	if err != nil {
		return nil, false, err
	}
	if n > len(d.val) {
		return nil, true, nil
	}
	v, _ = unescapeText(d.val[:0], lit[1:len(lit)-1])
	return v, false, nil
}

// str validates a string starting at d.i (which must be '"') and returns its
// decoded length: bytes in binary mode (each code point <= U+00FF is one
// byte), UTF-8 bytes otherwise. In binary mode with id set, the first 20
// bytes are stored there. Lone surrogate escapes are errors.
func (d *trackerScanner) str(binary bool, id *[20]byte) (int, error) {
	if d.peek() != '"' {
		return 0, d.errorf("want a string")
	}
	d.i++
	n := 0
	put := func(c byte) {
		if id != nil && n < 20 {
			id[n] = c
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
				d.i++
				continue
			}
			// Fast path for text: runs of plain ASCII, 8 bytes at a time.
			j := d.i + 1
			for j+8 <= len(d.b) && !special8(binary8.Uint64(d.b[j:])) {
				j += 8
			}
			for j < len(d.b) && plainASCII[d.b[j]] {
				j++
			}
			n += j - d.i
			d.i = j
		default:
			r, size := utf8.DecodeRune(d.b[d.i:]) // the input is valid UTF-8
			if binary {
				if r > 0xFF {
					return 0, d.errorf("code point U+%04X above U+00FF in a binary string", r)
				}
				put(byte(r))
			} else {
				n += size
			}
			d.i += size
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

// binary8 is binary.LittleEndian under a name that str's binary parameter
// does not shadow.
var binary8 = binary.LittleEndian

// special8 reports whether any of the 8 bytes in x is not plain ASCII (see
// plainASCII): below 0x20, '"', '\\' or 0x80 and above. The classic
// has-zero-byte test (x-0x01…)&^x&0x80… finds bytes < n when n <= 0x80.
func special8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := func(v uint64, n uint64) uint64 { return (v - ones*n) &^ v & highs }
	return (below(x, 0x20) | below(x^(ones*'"'), 1) | below(x^(ones*'\\'), 1) | x&highs) != 0
}

// escape reads one escape sequence at d.i ('\\') and returns its code point.
func (d *trackerScanner) escape() (rune, error) {
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

func (d *trackerScanner) hex4() (rune, error) {
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

// unescapeText appends the text of a string body (no quotes) validated by
// skipString to dst; false if it holds a lone surrogate escape.
func unescapeText(dst, lit []byte) ([]byte, bool) {
	d := trackerScanner{b: lit}
	for d.i < len(lit) {
		j := bytes.IndexByte(lit[d.i:], '\\')
		if j < 0 {
			return append(dst, lit[d.i:]...), true
		}
		dst = append(dst, lit[d.i:d.i+j]...)
		d.i += j
		r, err := d.escape()
		if err != nil {
			return dst, false
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, true
}

// unescapeBinary appends the bytes of a binary string body (no quotes)
// validated by str in binary mode to dst.
func unescapeBinary(dst, lit []byte) []byte {
	d := trackerScanner{b: lit}
	for d.i < len(lit) {
		switch c := lit[d.i]; {
		case c == '\\':
			r, _ := d.escape() // validated
			dst = append(dst, byte(r))
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(lit[d.i:])
			dst = append(dst, byte(r))
			d.i += size
		}
	}
	return dst
}

func (d *trackerScanner) optInt() (v int64, ok bool, err error) {
	if d.null() {
		return 0, false, nil
	}
	v, err = d.int()
	return v, err == nil, err
}

// number scans a JSON number and returns its text.
func (d *trackerScanner) number() ([]byte, error) {
	start := d.i
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
		return nil, d.errorf("invalid number")
	}
	if d.peek() == '.' {
		d.i++
		if digits() == 0 {
			return nil, d.errorf("invalid number")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if digits() == 0 {
			return nil, d.errorf("invalid number")
		}
	}
	return d.b[start:d.i], nil
}

// int reads a number that has an integral value within ±(2^53-1), such as 20,
// 20.0 or 2e1.
func (d *trackerScanner) int() (int64, error) {
	text, err := d.number()
	if err != nil {
		return 0, err
	}
	if v, err := strconv.ParseInt(string(text), 10, 64); err == nil && v >= -jsMaxSafeInteger && v <= jsMaxSafeInteger {
		return v, nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil || f != math.Trunc(f) || f < -jsMaxSafeInteger || f > jsMaxSafeInteger {
		return 0, d.errorf("number %s is not an integer within ±2^53", text)
	}
	return int64(f), nil
}

// skip validates and skips any JSON value.
func (d *trackerScanner) skip(depth int) error {
	if depth > maxTrackerDepth {
		return d.errorf("nesting deeper than %d", maxTrackerDepth)
	}
	switch c := d.peek(); {
	case c == '{':
		return d.object(func(_, _ []byte) error { return d.skip(depth + 1) })
	case c == '[':
		return d.array(func() error { return d.skip(depth + 1) })
	case c == '"':
		return d.skipString()
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := d.number()
		return err
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

// skipString validates and skips a string without decoding it. Unlike str
// it accepts lone surrogate escapes, which are valid JSON.
func (d *trackerScanner) skipString() error {
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
