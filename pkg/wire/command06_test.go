package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const swarm06V0 = "https://example.com/live/master.m3u8+V0"

// The commands behind each message of 04-wire-vectors.json.
func wireCommands06() map[string]Command06 {
	segs := make([]MapSegment06, 6)
	for k := range segs {
		segs[k] = MapSegment06{ShortID: strconv.Itoa(k)}
	}
	segs[5].Status = LoadingByHTTP06
	return map[string]Command06{
		"empty map":   {Code: SegmentsMap06},
		"map":         {Code: SegmentsMap06, Map: []MapEntry06{{StreamSwarmID: swarm06V0, Segments: segs}}},
		"request":     {Code: SegmentRequest06, ID: SegmentID06(swarm06V0, "7")},
		"cancel":      {Code: CancelSegmentRequest06, ID: SegmentID06(swarm06V0, "7")},
		"absent":      {Code: SegmentAbsent06, ID: SegmentID06(swarm06V0, "8")},
		"data header": {Code: SegmentData06, ID: SegmentID06(swarm06V0, "3"), Size: 1_000_000},
	}
}

func TestCommand06WireVectors(t *testing.T) {
	want := wireCommands06()
	for name, m := range loadWireVectors06(t).messages() {
		t.Run(name, func(t *testing.T) {
			raw, err := hex.DecodeString(m.Hex)
			require.NoError(t, err)
			require.Equal(t, m.UTF8, string(raw))
			require.Len(t, raw, m.Length)
			require.Equal(t, "binary", m.Frame)
			require.True(t, IsCommand06(raw))

			got, err := DecodeCommand06(raw)
			require.NoError(t, err)
			require.Equal(t, want[name], got)
			require.Equal(t, raw, AppendCommand06(nil, got))
			require.Equal(t, raw, AppendCommand06(nil, want[name]))
		})
	}
}

// A 1,000,000-byte segment goes out as 15 × 65535 + 16975 (04-wire-vectors.json).
func TestNextChunkLen06WireVector(t *testing.T) {
	v := loadWireVectors06(t).Chunks
	data := make([]byte, v.Total)
	var sizes []int
	for rest := data; len(rest) > 0; {
		n := NextChunkLen06(rest, 0)
		sizes = append(sizes, n)
		rest = rest[n:]
	}
	require.Equal(t, v.Sizes, sizes)
	require.Len(t, sizes, v.Count)
}

func TestNextChunkLen06(t *testing.T) {
	for _, tc := range []struct {
		data string
		max  int
		want int
	}{
		{"", 10, 0},
		{"x", 10, 1},
		{`{"a":1}`, 100, 6},   // whole message would look like a command
		{`{"a":1}rest`, 7, 6}, // so would the first 7 bytes
		{`{"}}}}}`, 100, 2},   // shrinks past every '}'
		{`{"}`, 100, 2},       // `{"` is not a command
		{`{}`, 100, 2},        // second byte is not '"'
		{`x{"a":1}`, 100, 8},  // does not start with {"
		{`{"a":1}`, 1, 1},     // never 0
		{strings.Repeat("a", 9), -1, 9},
	} {
		n := NextChunkLen06([]byte(tc.data), tc.max)
		require.Equal(t, tc.want, n, "%q max %d", tc.data, tc.max)
		if len(tc.data) > 0 {
			require.False(t, IsCommand06([]byte(tc.data[:n])), "%q", tc.data)
		}
	}
}

// Segment bytes that are one JSON object, sent in chunks, never look like a command.
func TestNextChunkLen06NoCommandChunks(t *testing.T) {
	data := []byte(strings.Repeat(`{"k":"}"}`, 1000))
	for _, max := range []int{3, 4, 9, 10, 17, 100} {
		for rest := data; len(rest) > 0; {
			n := NextChunkLen06(rest, max)
			require.Positive(t, n)
			require.LessOrEqual(t, n, max)
			require.False(t, IsCommand06(rest[:n]))
			rest = rest[n:]
		}
	}
}

func TestDecodeCommand06Edges(t *testing.T) {
	id := `"s+V0+1"`
	for _, tc := range []struct {
		name string
		msg  string
		want Command06
	}{
		{"float code", `{"c":3.0,"i":` + id + `}`, Command06{Code: SegmentRequest06, ID: "s+V0+1"}},
		{"exponent code", `{"c":3e0,"i":` + id + `}`, Command06{Code: SegmentRequest06, ID: "s+V0+1"}},
		{"negative zero code", `{"c":-0,"i":` + id + `,"s":1}`, Command06{Code: SegmentData06, ID: "s+V0+1", Size: 1}},
		{"last member wins", `{"c":1,"i":"a","c":4}`, Command06{Code: CancelSegmentRequest06, ID: "a"}},
		{"unknown members and whitespace", "{\"x\":[{\"y\":null}],\"c\" : 3 ,\r\n\"i\":\"a\",\"s\":true }", Command06{Code: SegmentRequest06, ID: "a"}},
		{"escapes", `{"c":3,"i":"a\"\\\/\u00e9\ud83d\ude00\n"}`, Command06{Code: SegmentRequest06, ID: "a\"\\/é😀\n"}},
		{"lone surrogate", `{"c":3,"i":"a\ud800b"}`, Command06{Code: SegmentRequest06, ID: "a\uFFFDb"}},
		{"size exponent", `{"c":0,"i":"a","s":1e6}`, Command06{Code: SegmentData06, ID: "a", Size: 1_000_000}},
		{"map missing", `{"c":2}`, Command06{Code: SegmentsMap06}},
		{"map null", `{"c":2,"m":null}`, Command06{Code: SegmentsMap06}},
		{"map string", `{"c":2,"m":"x"}`, Command06{Code: SegmentsMap06}},
		{"map entry not an array", `{"c":2,"m":{"a":["1",[0]],"b":{}}}`, Command06{Code: SegmentsMap06}},
		{"map entry of 3", `{"c":2,"m":{"a":["1",[0],1]}}`, Command06{Code: SegmentsMap06}},
		{"map count mismatch", `{"c":2,"m":{"a":["1|2",[0]]}}`, Command06{Code: SegmentsMap06}},
		{"map empty list", `{"c":2,"m":{"a":["",[]]}}`, Command06{Code: SegmentsMap06}},
		{"map bad status", `{"c":2,"m":{"a":["1|2",[0,2]]}}`, Command06{Code: SegmentsMap06}},
		{"map string status", `{"c":2,"m":{"a":["1",["0"]]}}`, Command06{Code: SegmentsMap06}},
		{"map statuses as JS numbers", `{"c":2,"m":{"a":["1|2|3",[-0,1.0,1e0]]}}`, Command06{Code: SegmentsMap06, Map: []MapEntry06{
			{StreamSwarmID: "a", Segments: []MapSegment06{{"1", Loaded06}, {"2", LoadingByHTTP06}, {"3", LoadingByHTTP06}}},
		}}},
		{"map empty id", `{"c":2,"m":{"a":["",[0]]}}`, Command06{Code: SegmentsMap06, Map: []MapEntry06{
			{StreamSwarmID: "a", Segments: []MapSegment06{{"", Loaded06}}},
		}}},
		{"map key order and duplicates", `{"c":2,"m":{"b":["1",[0]],"10":["2",[0]],"a":"bad","2":["3",[1]],"a":["4",[0]]}}`, Command06{Code: SegmentsMap06, Map: []MapEntry06{
			{StreamSwarmID: "2", Segments: []MapSegment06{{"3", LoadingByHTTP06}}},
			{StreamSwarmID: "10", Segments: []MapSegment06{{"2", Loaded06}}},
			{StreamSwarmID: "b", Segments: []MapSegment06{{"1", Loaded06}}},
			{StreamSwarmID: "a", Segments: []MapSegment06{{"4", Loaded06}}},
		}}},
		{"map non-index numeric keys", `{"c":2,"m":{"01":["1",[0]],"4294967295":["2",[0]],"4294967294":["3",[0]]}}`, Command06{Code: SegmentsMap06, Map: []MapEntry06{
			{StreamSwarmID: "4294967294", Segments: []MapSegment06{{"3", Loaded06}}},
			{StreamSwarmID: "01", Segments: []MapSegment06{{"1", Loaded06}}},
			{StreamSwarmID: "4294967295", Segments: []MapSegment06{{"2", Loaded06}}},
		}}},
		{"map as array", `{"c":2,"m":[["1",[0]]]}`, Command06{Code: SegmentsMap06, Map: []MapEntry06{
			{StreamSwarmID: "0", Segments: []MapSegment06{{"1", Loaded06}}},
		}}},
		{"deep unknown member", `{"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `,"c":3,"i":"a"}`, Command06{Code: SegmentRequest06, ID: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeCommand06([]byte(tc.msg))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TextDecoder replaces each maximal invalid subsequence with one U+FFFD.
func TestDecodeCommand06InvalidUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"a\xe2\x82b":       "a\uFFFDb", // truncated 3-byte sequence: one U+FFFD (Go's utf8 gives two)
		"a\xffb":           "a\uFFFDb",
		"\xed\xa0\x80":     "\uFFFD\uFFFD\uFFFD", // encoded surrogate
		"\xf0\x9f\x98":     "\uFFFD",
		"\xc0\xaf":         "\uFFFD\uFFFD",
		"\xf4\x90\x80\x80": "\uFFFD\uFFFD\uFFFD\uFFFD",
		"é😀":               "é😀",
	} {
		got, err := DecodeCommand06([]byte(`{"c":3,"i":"` + in + `"}`))
		require.NoError(t, err, "%q", in)
		require.Equal(t, want, got.ID, "%q", in)
	}
}

func TestDecodeCommand06Errors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		msg        string
		notCommand bool
	}{
		{"empty", "", true},
		{"segment bytes", "\x00\x01\x02", true},
		{"leading space", ` {"c":3,"i":"a"}`, true},
		{"trailing newline", "{\"c\":3,\"i\":\"a\"}\n", true},
		{"not JSON", `{"c":3,"i":"a"}}`, true},
		{"trailing comma", `{"c":3,"i":"a",}`, true},
		{"single quotes", `{"c":3,'i':"a"}`, true},
		{"control char in string", "{\"c\":3,\"i\":\"a\tb\"}", true},
		{"bad escape", `{"c":3,"i":"\x"}`, true},
		{"leading zero", `{"c":03,"i":"a"}`, true},
		{"unclosed", `{"c":[3}`, true},
		{"no code", `{"i":"a"}`, false},
		{"string code", `{"c":"3","i":"a"}`, false},
		{"unknown code", `{"c":5,"i":"a"}`, false},
		{"fractional code", `{"c":2.5}`, false},
		{"numeric id", `{"c":3,"i":7}`, false},
		{"missing id", `{"c":1}`, false},
		{"missing size", `{"c":0,"i":"a"}`, false},
		{"negative size", `{"c":0,"i":"a","s":-1}`, false},
		{"fractional size", `{"c":0,"i":"a","s":1.5}`, false},
		{"size beyond 2^53", `{"c":0,"i":"a","s":9007199254740992}`, false},
		{"string size", `{"c":0,"i":"a","s":"10"}`, false},
		{"too big", `{"c":3,"i":"` + strings.Repeat("a", MaxCommand06Bytes) + `"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCommand06([]byte(tc.msg))
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrMalformed), "%v", err)
			require.Equal(t, tc.notCommand, errors.Is(err, ErrNotCommand06), "%v", err)
		})
	}
}

func TestAppendCommand06(t *testing.T) {
	for _, tc := range []struct {
		c    Command06
		want string
	}{
		{Command06{Code: SegmentsMap06, Map: []MapEntry06{
			{StreamSwarmID: "empty"},
			{StreamSwarmID: "https://example.com/vod/manifest.mpd+V1", Segments: []MapSegment06{{"0.000", 0}, {"4.000", 0}, {"8.000", 0}}},
			{StreamSwarmID: "also empty", Segments: []MapSegment06{}},
			{StreamSwarmID: "q\"\x01é", Segments: []MapSegment06{{"a\"b", 1}}},
		}}, `{"c":2,"m":{"https://example.com/vod/manifest.mpd+V1":["0.000|4.000|8.000",[0,0,0]],"q\"\u0001é":["a\"b",[1]]}}`},
		{Command06{Code: SegmentRequest06, ID: "https://example.com/vod/manifest.mpd+V1+4.000", Size: 9, Map: []MapEntry06{{StreamSwarmID: "x"}}},
			`{"c":3,"i":"https://example.com/vod/manifest.mpd+V1+4.000"}`},
		{Command06{Code: SegmentAbsent06, ID: "bad \xff utf-8"}, `{"c":1,"i":"bad ` + "\uFFFD" + ` utf-8"}`},
		{Command06{Code: 9, ID: "x"}, `{"c":9}`},
	} {
		got := AppendCommand06([]byte("prefix"), tc.c)
		require.Equal(t, "prefix"+tc.want, string(got))
		require.True(t, IsCommand06(got[len("prefix"):]))
	}
}

// Every command code and a long map survive a round trip.
func TestCommand06RoundTrip(t *testing.T) {
	var segs []MapSegment06
	for k := range 300 {
		segs = append(segs, MapSegment06{ShortID: FormatToFixed3(float64(k) * 3.2), Status: SegmentStatus06(k % 2)})
	}
	for _, c := range []Command06{
		{Code: SegmentData06, ID: "x+V1+0.000", Size: jsMaxSafeInteger},
		{Code: SegmentData06, ID: "", Size: 0},
		{Code: SegmentAbsent06, ID: "☃+V0+1"},
		{Code: SegmentRequest06, ID: "\u2028\x7f"},
		{Code: CancelSegmentRequest06, ID: "a+b"},
		{Code: SegmentsMap06, Map: []MapEntry06{{StreamSwarmID: "s+V1", Segments: segs}, {StreamSwarmID: "s+V2", Segments: segs[:1]}}},
	} {
		msg := AppendCommand06(nil, c)
		got, err := DecodeCommand06(msg)
		require.NoError(t, err, "%s", msg)
		require.Equal(t, c, got)
	}
}

func FuzzDecodeCommand06(f *testing.F) {
	for _, m := range loadWireVectors06(f).messages() {
		f.Add([]byte(m.UTF8))
	}
	f.Add([]byte(`{"c":2,"m":{"b":["1",[0]],"10":["2",[0]],"a":"bad","2":["3",[1]],"a":["4|5",[0,1]]}}`))
	f.Add([]byte(`{"c":2,"m":[["1",[0]]]}`))
	f.Add([]byte(`{"c":0,"i":"a\ud800\u00e9\\","s":1e3}`))
	f.Add([]byte("{\"c\":3,\"i\":\"a\xe2\x82b\"}"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := DecodeCommand06(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if !IsCommand06(msg) && !errors.Is(err, ErrNotCommand06) && len(msg) <= MaxCommand06Bytes {
				t.Fatalf("non-command %q: error %v does not wrap ErrNotCommand06", msg, err)
			}
			return
		}
		if !IsCommand06(msg) {
			t.Fatalf("decoded a message that is no command: %q", msg)
		}
		out := AppendCommand06(nil, c)
		if !IsCommand06(out) {
			t.Fatalf("encoded %q fails IsCommand06", out)
		}
		again, err := DecodeCommand06(out)
		if err != nil {
			t.Fatalf("re-decode %q: %v", out, err)
		}
		require.Equal(t, c, again, "input %q, re-encoded %q", msg, out)
		if !bytes.Equal(out, AppendCommand06(nil, again)) {
			t.Fatalf("encoding not stable: %q", out)
		}
	})
}

func BenchmarkEncodeSegmentsMap06(b *testing.B) {
	segs := make([]MapSegment06, 200)
	for k := range segs {
		segs[k] = MapSegment06{ShortID: ShortIDFromSequence(int64(100_000 + k))}
	}
	c := Command06{Code: SegmentsMap06, Map: []MapEntry06{{StreamSwarmID: swarm06V0, Segments: segs}}}
	msg := AppendCommand06(nil, c)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	buf := make([]byte, 0, len(msg))
	for b.Loop() {
		buf = AppendCommand06(buf[:0], c)
	}
}

func BenchmarkDecodeRequest06(b *testing.B) {
	msg := AppendCommand06(nil, Command06{Code: SegmentRequest06, ID: SegmentID06(swarm06V0, "1700000000")})
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCommand06(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// command06-edge.json records what the real 0.6.2 MediaPeer
// (getJsonCommand, createSegmentsMap) makes of odd messages; it is written by
// testdata/gen/command06-edge.mjs.
func TestDecodeCommand06Browser(t *testing.T) {
	b, err := os.ReadFile("testdata/v0.6/command06-edge.json")
	require.NoError(t, err)
	var v struct {
		Cases []struct {
			Hex     string   `json:"hex"`
			Command bool     `json:"command"`
			C       *int     `json:"c"`
			I       *string  `json:"i"`
			S       *int64   `json:"s"`
			Map     [][2]any `json:"map"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v.Cases)
	for _, tc := range v.Cases {
		msg, err := hex.DecodeString(tc.Hex)
		require.NoError(t, err)
		name := string(msg)
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			got, err := DecodeCommand06(msg)
			if !tc.Command {
				require.ErrorIs(t, err, ErrNotCommand06)
				return
			}
			require.NotErrorIs(t, err, ErrNotCommand06)
			switch {
			case tc.C == nil:
				require.ErrorIs(t, err, ErrMalformed) // the browser ignores it
				return
			case *tc.C == int(SegmentsMap06):
				require.NoError(t, err)
				require.Equal(t, SegmentsMap06, got.Code)
				require.Equal(t, tc.Map, flattenMap06(got.Map))
				return
			case tc.I == nil || (*tc.C == int(SegmentData06) && tc.S == nil):
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.Equal(t, CommandCode06(*tc.C), got.Code)
			require.Equal(t, *tc.I, got.ID)
			if tc.S != nil {
				require.Equal(t, *tc.S, got.Size)
			}
		})
	}
}

// flattenMap06 builds the browser's Map of full segment id to status: a
// repeated id keeps its first position and its last status.
func flattenMap06(entries []MapEntry06) [][2]any {
	out := [][2]any{}
	at := map[string]int{}
	for _, e := range entries {
		for _, s := range e.Segments {
			id := SegmentID06(e.StreamSwarmID, s.ShortID)
			if k, ok := at[id]; ok {
				out[k][1] = float64(s.Status)
				continue
			}
			at[id] = len(out)
			out = append(out, [2]any{id, float64(s.Status)})
		}
	}
	return out
}
