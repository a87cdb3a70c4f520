package playlist

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsNumberJSON is a number from the JS vectors; NaN and Infinity come as strings.
type jsNumberJSON any

func jsValue(t *testing.T, v jsNumberJSON) float64 {
	t.Helper()
	switch v := v.(type) {
	case float64:
		return v
	case string:
		switch v {
		case "NaN":
			return math.NaN()
		case "Infinity":
			return math.Inf(1)
		case "-Infinity":
			return math.Inf(-1)
		}
	}
	t.Fatalf("not a JS number: %v", v)
	return 0
}

// TestJSBuiltins checks the ports of parseInt, Number#toString(16),
// String#trim and the WHATWG UTF-8 decoder against node (js-builtins.json).
func TestJSBuiltins(t *testing.T) {
	var v struct {
		ParseInt []struct {
			In      string       `json:"in"`
			Radix10 jsNumberJSON `json:"radix10"`
			Auto    jsNumberJSON `json:"auto"`
			Hex     string       `json:"hex"`
		} `json:"parseInt"`
		Trim []struct{ In, Out string } `json:"trim"`
		UTF8 []struct {
			Raw []int  `json:"in"`
			Out string `json:"out"`
		} `json:"utf8"`
	}
	readJSON(t, "vectors/js-builtins.json", &v)
	require.NotEmpty(t, v.ParseInt)
	same := func(want, got float64, format string, in string) {
		msg := fmt.Sprintf(format, in)
		if math.IsNaN(want) {
			require.True(t, math.IsNaN(got), msg)
			return
		}
		require.Equal(t, want, got, msg)
	}
	for _, c := range v.ParseInt {
		same(jsValue(t, c.Radix10), jsParseInt(c.In, 10), "parseInt(%q, 10)", c.In)
		auto := jsParseInt(c.In, 0)
		same(jsValue(t, c.Auto), auto, "parseInt(%q)", c.In)
		require.Equal(t, c.Hex, jsIntToString16(auto), "parseInt(%q).toString(16)", c.In)
	}
	require.NotEmpty(t, v.Trim)
	for _, c := range v.Trim {
		require.Equal(t, c.Out, jsTrim(c.In), "%q.trim()", c.In)
	}
	require.NotEmpty(t, v.UTF8)
	for _, c := range v.UTF8 {
		b := make([]byte, len(c.Raw))
		for i, x := range c.Raw {
			b[i] = byte(x)
		}
		require.Equal(t, c.Out, decodeUTF8(b), "% x", b)
	}
}
