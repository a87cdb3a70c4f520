package playlist

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
)

// jsDot is JavaScript's "." without the s flag: anything but a line terminator.
const jsDot = `[^\n\r\x{2028}\x{2029}]`

// attrListRE is hls.js ATTR_LIST_REGEX, /(.+?)=(".*?"|.*?)(?:,|$)/g. Go's
// regexp picks the same submatches a backtracking engine would.
var attrListRE = regexp.MustCompile(`(` + jsDot + `+?)=("` + jsDot + `*?"|` + jsDot + `*?)(?:,|$)`)

// variableRefRE is hls.js VARIABLE_REPLACEMENT_REGEX.
var variableRefRE = regexp.MustCompile(`\{\$([a-zA-Z0-9_-]+)\}`)

// attrList is an hls.js AttrList: attribute name to value, quotes removed.
// A missing key is JavaScript's undefined.
type attrList map[string]string

// truthy reports whether attrs[name] is a non-empty string (JS truthiness).
func (a attrList) truthy(name string) bool {
	return a[name] != ""
}

// decimalInteger is AttrList#decimalInteger: parseInt(value, 10), with values
// above Number.MAX_SAFE_INTEGER turned into Infinity and a missing attribute
// giving NaN.
func (a attrList) decimalInteger(name string) float64 {
	v, ok := a[name]
	if !ok {
		return math.NaN()
	}
	n := jsParseInt(v, 10)
	if n > maxSafeInteger {
		return math.Inf(1)
	}
	return n
}

// decimalResolution is AttrList#decimalResolution: /^(\d+)x(\d+)$/. ok is false
// when the attribute is missing, does not match, or a side is too large to be
// an exact integer (hls.js would report a rounded float there).
func (a attrList) decimalResolution(name string) (w, h int, ok bool) {
	v, present := a[name]
	if !present {
		return 0, 0, false
	}
	ws, hs, found := strings.Cut(v, "x")
	if !found || !allDigits(ws) || !allDigits(hs) {
		return 0, 0, false
	}
	wf, hf := jsParseInt(ws, 10), jsParseInt(hs, 10)
	if wf > maxSafeInteger || hf > maxSafeInteger {
		return 0, 0, false
	}
	return int(wf), int(hf), true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// varState holds what hls.js keeps on the parsed-playlist object for
// EXT-X-DEFINE (variableList, hasVariableRefs, playlistParsingError).
type varState struct {
	list    map[string]string // nil is JavaScript's null
	hasRefs bool
	err     error // first parsing error, as playlistParsingError
}

func newVarState(text string) *varState {
	return &varState{hasRefs: variableRefRE.MatchString(text)}
}

func (vs *varState) fail(err error) {
	if vs.err == nil {
		vs.err = err
	}
}

// substitute is hls.js substituteVariables.
func (vs *varState) substitute(value string) string {
	if vs.list == nil && !vs.hasRefs {
		return value
	}
	return variableRefRE.ReplaceAllStringFunc(value, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if v, ok := vs.list[name]; ok {
			return v
		}
		vs.fail(fmt.Errorf("%w: missing EXT-X-DEFINE for variable reference %q", ErrMalformed, name))
		return ref
	})
}

// define is hls.js addVariableDefinition for an EXT-X-DEFINE in a multivariant
// playlist (NAME/VALUE or QUERYPARAM taken from the playlist URL).
func (vs *varState) define(attrs attrList, parent *url.URL) {
	if vs.list == nil {
		vs.list = map[string]string{}
	}
	var name, value string
	if qp, ok := attrs["QUERYPARAM"]; ok {
		name = qp
		q := parent.Query()
		if !q.Has(name) {
			vs.fail(fmt.Errorf("%w: EXT-X-DEFINE QUERYPARAM %q not in playlist URL", ErrMalformed, name))
		}
		value = q.Get(name)
	} else {
		var ok bool
		if name, ok = attrs["NAME"]; !ok {
			name = "undefined" // JavaScript turns the missing key into this string
		}
		value = attrs["VALUE"]
	}
	if _, dup := vs.list[name]; dup {
		vs.fail(fmt.Errorf("%w: duplicate EXT-X-DEFINE variable %q", ErrMalformed, name))
		return
	}
	vs.list[name] = value
}

// parseAttrList is hls.js AttrList.parseAttrList. vs may be nil (no variable
// substitution, as for EXT-X-START).
func parseAttrList(input string, vs *varState) attrList {
	attrs := attrList{}
	for _, m := range attrListRE.FindAllStringSubmatch(input, -1) {
		name := jsTrim(m[1])
		value := m[2]
		quoted := strings.HasPrefix(value, `"`) && strings.LastIndex(value, `"`) == len(value)-1
		hexSequence := false
		if quoted {
			if len(value) >= 2 {
				value = value[1 : len(value)-1]
			} else {
				value = ""
			}
		} else {
			switch name {
			case "IV", "SCTE35-CMD", "SCTE35-IN", "SCTE35-OUT":
				hexSequence = true
			}
		}
		if vs != nil && (quoted || hexSequence) {
			value = vs.substitute(value)
		}
		attrs[name] = value
	}
	return attrs
}
