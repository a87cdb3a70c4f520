package playlist

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the few JavaScript built-ins whose exact behaviour decides
// what hls.js reports: parseInt, String.prototype.trim, Number#toString(16)
// and the WHATWG UTF-8 decoder used by XHR responseText.

// maxSafeInteger is Number.MAX_SAFE_INTEGER (2^53-1).
const maxSafeInteger = 1<<53 - 1

// isJSSpace reports whether r is WhiteSpace or LineTerminator in ECMAScript,
// the set String.prototype.trim and parseInt skip.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// jsTrim is String.prototype.trim.
func jsTrim(s string) string {
	return strings.TrimFunc(s, isJSSpace)
}

// jsParseInt is parseInt(s, radix) for radix 0 (auto: "0x" means 16, else 10),
// 10 or 16. It returns NaN when s has no leading digits.
func jsParseInt(s string, radix int) float64 {
	s = strings.TrimLeftFunc(s, isJSSpace)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if (radix == 0 || radix == 16) && len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		radix = 16
		s = s[2:]
	} else if radix == 0 {
		radix = 10
	}
	n := 0
	for n < len(s) && isDigit(s[n], radix) {
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	digits := s[:n]
	var v float64
	if radix == 10 {
		// ParseFloat rounds correctly; ECMAScript allows (but V8 does not use)
		// approximation after the 20th digit.
		v, _ = strconv.ParseFloat(digits, 64)
	} else {
		var bi big.Int
		bi.SetString(digits, 16)
		v, _ = new(big.Float).SetInt(&bi).Float64()
	}
	if neg {
		v = -v
	}
	return v
}

func isDigit(c byte, radix int) bool {
	if c >= '0' && c <= '9' {
		return true
	}
	if radix == 16 {
		c |= 0x20
		return c >= 'a' && c <= 'f'
	}
	return false
}

// jsIntToString16 is Number#toString(16) for the integral (or NaN/Infinity)
// values parseInt returns.
func jsIntToString16(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	bi, _ := big.NewFloat(math.Abs(v)).Int(nil)
	s := bi.Text(16)
	if v < 0 && s != "0" {
		s = "-" + s
	}
	return s
}

// decodeUTF8 decodes b the way the WHATWG UTF-8 decoder (XHR responseText)
// does: a leading BOM is dropped and every maximal ill-formed subsequence
// becomes one U+FFFD.
func decodeUTF8(b []byte) string {
	s := strings.TrimPrefix(string(b), "\ufeff")
	if utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size > 1 {
			sb.WriteString(s[i : i+size])
			i += size
			continue
		}
		i += maximalSubpart(s[i:])
		sb.WriteRune(utf8.RuneError)
	}
	return sb.String()
}

// maximalSubpart returns the length of the maximal prefix of s that starts a
// well-formed UTF-8 sequence (Unicode 3.9, "U+FFFD substitution of maximal
// subparts", which WHATWG's decoder implements). s[0] starts an ill-formed one.
func maximalSubpart(s string) int {
	c := s[0]
	need := 0
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		need = 1
	case c == 0xe0:
		need, lo = 2, 0xa0
	case c >= 0xe1 && c <= 0xec, c == 0xee, c == 0xef:
		need = 2
	case c == 0xed:
		need, hi = 2, 0x9f
	case c == 0xf0:
		need, lo = 3, 0x90
	case c >= 0xf1 && c <= 0xf3:
		need = 3
	case c == 0xf4:
		need, hi = 3, 0x8f
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(s); k++ {
		if k > 0 {
			lo, hi = 0x80, 0xbf
		}
		if s[n] < lo || s[n] > hi {
			break
		}
		n++
	}
	return n
}
