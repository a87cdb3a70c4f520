package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// trackerCapture is the layout of testdata/v2/tracker-2x.json, frames captured
// from the real P2P Media Loader → bittorrent-tracker client code (see
// shared/vectors/v2/tracker-capture.mjs).
type trackerCapture struct {
	Which    string `json:"which"`
	Messages []struct {
		Dir        string          `json:"dir"`
		Raw        string          `json:"raw"`
		RawUTF8Hex string          `json:"rawUtf8Hex"`
		SentOffer  bool            `json:"sentOffer"`
		Msg        json.RawMessage `json:"msg"`
	} `json:"messages"`
}

func loadTrackerCaptures(t testing.TB) map[string]trackerCapture {
	t.Helper()
	out := map[string]trackerCapture{}
	for _, name := range []string{"tracker-22.json", "tracker-23.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "v2", name))
		require.NoError(t, err)
		var c trackerCapture
		require.NoError(t, json.Unmarshal(b, &c))
		require.NotEmpty(t, c.Messages)
		out[name] = c
	}
	return out
}

// jsBinary converts a string as encoding/json decodes it from the capture (one
// rune per JS char) to the bytes a binary string stands for.
func jsBinary(t *testing.T, s string) string {
	t.Helper()
	b := make([]byte, 0, len(s))
	for _, r := range s {
		require.LessOrEqual(t, r, rune(0xFF), "not a binary string: %q", s)
		b = append(b, byte(r))
	}
	return string(b)
}

func TestTrackerCapturesRoundTrip(t *testing.T) {
	wantKinds := []TrackerKind{TrackerKindAnnounce, TrackerKindResponse, TrackerKindOffer, TrackerKindAnswer}
	for name, c := range loadTrackerCaptures(t) {
		require.Len(t, c.Messages, len(wantKinds), name)
		for i, msg := range c.Messages {
			t.Run(name+"/"+wantKinds[i].String(), func(t *testing.T) {
				if msg.RawUTF8Hex != "" {
					require.Equal(t, msg.RawUTF8Hex, hex.EncodeToString([]byte(msg.Raw)))
				}
				m, err := DecodeTrackerMessage([]byte(msg.Raw))
				require.NoError(t, err)
				require.Equal(t, wantKinds[i], m.Kind())
				require.Equal(t, msg.Raw, string(m.AppendJSON(nil)), "re-encoding must be byte-exact")

				// The JavaScript side's own parse of the same frame (client frames only).
				if len(msg.Msg) > 0 {
					var js struct {
						InfoHash string `json:"info_hash"`
						PeerID   string `json:"peer_id"`
						ToPeerID string `json:"to_peer_id"`
						OfferID  string `json:"offer_id"`
						Offers   []struct {
							Offer   TrackerSDP `json:"offer"`
							OfferID string     `json:"offer_id"`
						} `json:"offers"`
						Answer *TrackerSDP `json:"answer"`
					}
					require.NoError(t, json.Unmarshal(msg.Msg, &js))
					require.Equal(t, jsBinary(t, js.InfoHash), m.InfoHash)
					require.Equal(t, jsBinary(t, js.PeerID), m.PeerID)
					require.Len(t, m.PeerID, 20)
					require.Equal(t, jsBinary(t, js.ToPeerID), m.ToPeerID)
					require.Equal(t, jsBinary(t, js.OfferID), m.OfferID)
					require.Len(t, m.Offers, len(js.Offers))
					for j, o := range js.Offers {
						require.Equal(t, o.Offer, m.Offers[j].Offer)
						require.Equal(t, jsBinary(t, o.OfferID), m.Offers[j].OfferID)
						require.Len(t, m.Offers[j].OfferID, 20)
					}
					if js.Answer != nil {
						require.Equal(t, *js.Answer, *m.Answer)
					}
				}
			})
		}
	}
}

// TestTrackerOfferIDExample checks the example of protocol-v2.md §3.3: offer id
// bytes 00 ff 10 7f 80 c3 … go on the wire as
// 5c7530303030 c3bf 5c7530303130 7f c280 c383 …, exactly as the capture's fake
// tracker (JSON.stringify) sent them.
func TestTrackerOfferIDExample(t *testing.T) {
	id, err := hex.DecodeString("00ff107f80c3e9415c22aabbccddeeff01020304")
	require.NoError(t, err)
	got := AppendJSONString(nil, string(id), true)
	require.True(t, strings.HasPrefix(hex.EncodeToString(got), "22"+"5c7530303030"+"c3bf"+"5c7530303130"+"7f"+"c280"+"c383"),
		"got %x", got)

	for name, c := range loadTrackerCaptures(t) {
		for _, msg := range c.Messages {
			if !msg.SentOffer {
				continue
			}
			require.Contains(t, msg.Raw, `"offer_id":`+string(got)+`,`, name)
			m, err := DecodeTrackerMessage([]byte(msg.Raw))
			require.NoError(t, err)
			require.Equal(t, string(id), m.OfferID)
		}
	}
}

type trackerStringVectors struct {
	Binary []struct {
		BytesHex string `json:"bytesHex"`
		JSONHex  string `json:"jsonHex"`
	} `json:"binary"`
	Text []struct {
		UTF8Hex string `json:"utf8Hex"`
		JSONHex string `json:"jsonHex"`
	} `json:"text"`
	Parse []struct {
		Text        string `json:"text"`
		OK          bool   `json:"ok"`
		Stringified string `json:"stringified"`
	} `json:"parse"`
}

func loadTrackerStringVectors(t testing.TB) trackerStringVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "v2", "tracker-strings.json"))
	require.NoError(t, err)
	var v trackerStringVectors
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v.Binary)
	require.NotEmpty(t, v.Text)
	require.NotEmpty(t, v.Parse)
	return v
}

func mustHexString(t *testing.T, s string) string {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return string(b)
}

// TestAppendJSONStringVectors compares with JSON.stringify as run by node
// (testdata/v2/tracker-strings.mjs), and decodes the result back.
func TestAppendJSONStringVectors(t *testing.T) {
	v := loadTrackerStringVectors(t)
	for i, c := range v.Binary {
		in, want := mustHexString(t, c.BytesHex), mustHexString(t, c.JSONHex)
		require.Equal(t, want, string(AppendJSONString(nil, in, true)), "binary %d", i)
		d := trackerScanner{b: []byte(want)}
		got, err := d.string(true)
		require.NoError(t, err)
		require.Equal(t, in, got)
	}
	for i, c := range v.Text {
		in, want := mustHexString(t, c.UTF8Hex), mustHexString(t, c.JSONHex)
		require.Equal(t, want, string(AppendJSONString(nil, in, false)), "text %d", i)
		d := trackerScanner{b: []byte(want)}
		got, err := d.string(false)
		require.NoError(t, err)
		require.Equal(t, in, got)
	}
}

func TestAppendJSONStringInvalidUTF8(t *testing.T) {
	got := AppendJSONString(nil, "a\xffb\xc3", false)
	require.True(t, utf8.Valid(got))
	require.Equal(t, "\"a\uFFFDb\uFFFD\"", string(got))
}

// TestDecodeTrackerParseVectors holds the decoder to what JSON.parse accepts,
// and to the same meaning: the frame and JSON.stringify(JSON.parse(frame))
// decode to the same message.
func TestDecodeTrackerParseVectors(t *testing.T) {
	for _, c := range loadTrackerStringVectors(t).Parse {
		t.Run(c.Text, func(t *testing.T) {
			m, err := DecodeTrackerMessage([]byte(c.Text))
			if !c.OK || !strings.HasPrefix(c.Stringified, "{") {
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			m2, err := DecodeTrackerMessage([]byte(c.Stringified))
			require.NoError(t, err)
			require.Equal(t, m2, m)
		})
	}
}

func i64(v int64) *int64 { return &v }

func TestTrackerMessageEncode(t *testing.T) {
	sdp := "v=0\r\n"
	cases := []struct {
		name string
		m    TrackerMessage
		want string
	}{
		{
			name: "stopped",
			m: TrackerMessage{Action: "announce", NumWant: i64(0), Uploaded: i64(0), Downloaded: i64(0), Event: "stopped",
				InfoHash: "ih", PeerID: "p"},
			want: `{"numwant":0,"uploaded":0,"downloaded":0,"event":"stopped","action":"announce","info_hash":"ih","peer_id":"p"}`,
		},
		{
			name: "announce with trackerid and no event",
			m: TrackerMessage{Action: "announce", NumWant: i64(1), Uploaded: i64(0), Downloaded: i64(0), InfoHash: "ih",
				PeerID: "p", TrackerID: "tid", Offers: []TrackerOffer{{Offer: TrackerSDP{Type: "offer", SDP: sdp}, OfferID: "\x01"}}},
			want: `{"numwant":1,"uploaded":0,"downloaded":0,"action":"announce","info_hash":"ih","peer_id":"p","trackerid":"tid",` +
				`"offers":[{"offer":{"type":"offer","sdp":"v=0\r\n"},"offer_id":"\u0001"}]}`,
		},
		{
			name: "relayed answer (wt-tracker strips to_peer_id)",
			m: TrackerMessage{Action: "announce", InfoHash: "ih", PeerID: "p", Answer: &TrackerSDP{Type: "answer", SDP: sdp},
				OfferID: "o"},
			want: `{"action":"announce","info_hash":"ih","peer_id":"p","answer":{"type":"answer","sdp":"v=0\r\n"},"offer_id":"o"}`,
		},
		{
			name: "bare failure",
			m:    TrackerMessage{FailureReason: "invalid info_hash"},
			want: `{"failure reason":"invalid info_hash"}`,
		},
		{
			name: "announce failure",
			m:    TrackerMessage{Action: "announce", FailureReason: "no", InfoHash: "ih"},
			want: `{"action":"announce","failure reason":"no","info_hash":"ih"}`,
		},
		{
			name: "response with every field",
			m: TrackerMessage{Action: "announce", WarningMessage: "w", Interval: i64(120), MinInterval: i64(60),
				ResponseTrackerID: "t", InfoHash: "ih", Complete: i64(1), Incomplete: i64(2)},
			want: `{"action":"announce","warning message":"w","interval":120,"min interval":60,"tracker id":"t",` +
				`"info_hash":"ih","complete":1,"incomplete":2}`,
		},
		{
			name: "scrape of several",
			m:    TrackerMessage{Action: "scrape", InfoHashes: []string{"a", "\xff"}},
			want: `{"action":"scrape","info_hash":["a","ÿ"]}`,
		},
		{
			name: "scrape response",
			m: TrackerMessage{Action: "scrape", Files: []ScrapeFile{{InfoHash: "a", Complete: 1, Incomplete: 2, Downloaded: 1}},
				MinRequestInterval: i64(600)},
			want: `{"action":"scrape","files":{"a":{"complete":1,"incomplete":2,"downloaded":1}},"flags":{"min_request_interval":600}}`,
		},
		{
			name: "other keeps every field",
			m:    TrackerMessage{Action: "ping", PeerID: "p", NumWant: i64(3)},
			want: `{"action":"ping","numwant":3,"peer_id":"p"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.m.AppendJSON(nil)
			require.Equal(t, tc.want, string(got))
			require.True(t, json.Valid(got))
			back, err := DecodeTrackerMessage(got)
			require.NoError(t, err)
			require.Equal(t, &tc.m, back)
		})
	}
}

func TestDecodeTrackerMessageMalformed(t *testing.T) {
	cases := map[string]string{
		"invalid utf-8":            "{\"action\":\"a\xff\"}",
		"binary above U+00FF":      `{"peer_id":"\u0100"}`,
		"binary raw above U+00FF":  `{"offer_id":"€"}`,
		"string as number":         `{"interval":"20"}`,
		"fraction":                 `{"interval":2.5}`,
		"beyond 2^53":              `{"complete":9007199254740992}`,
		"bool as string":           `{"action":true}`,
		"offer not object":         `{"offer":"v=0"}`,
		"sdp not string":           `{"answer":{"sdp":1}}`,
		"offers not array":         `{"offers":{}}`,
		"offers item not object":   `{"offers":[1]}`,
		"info_hash array of num":   `{"action":"scrape","info_hash":[1]}`,
		"files not object":         `{"files":[]}`,
		"files key above U+00FF":   `{"files":{"\u0100":{}}}`,
		"lone surrogate in known":  `{"failure reason":"\ud800"}`,
		"surrogate pair in binary": `{"peer_id":"\ud83d\ude00"}`,
		"deep nesting":             `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
		"null frame":               `null`,
		"truncated":                `{"action":"announce","info_hash":"ab`,
		"raw control char":         "{\"action\":\"a\nb\"}",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeTrackerMessage([]byte(in))
			require.ErrorIs(t, err, ErrMalformed)
			require.Nil(t, m)
		})
	}
}

func TestDecodeTrackerMessageTolerance(t *testing.T) {
	m, err := DecodeTrackerMessage([]byte(`{"action":"announce","interval":1e2,"complete":null,"x":{"y":["\ud800"]},` +
		`"offers":null,"offer_id":null,"files":{"a":{"complete":1},"b":null,"a":{"incomplete":2}},` +
		`"pe\u0065r_id":"\u00ff\u0000","\ud800":1}`))
	require.NoError(t, err)
	require.Equal(t, &TrackerMessage{
		Action:   "announce",
		Interval: i64(100),
		PeerID:   "\xff\x00",
		Files:    []ScrapeFile{{InfoHash: "a", Incomplete: 2}, {InfoHash: "b"}},
	}, m)
}

func TestTrackerKindString(t *testing.T) {
	seen := map[string]bool{}
	for k := TrackerKindOther; k <= TrackerKindScrapeResponse; k++ {
		s := k.String()
		require.False(t, seen[s], s)
		seen[s] = true
	}
}

func FuzzDecodeTrackerMessage(f *testing.F) {
	for _, c := range loadTrackerCaptures(f) {
		for _, msg := range c.Messages {
			f.Add([]byte(msg.Raw))
		}
	}
	for _, c := range loadTrackerStringVectors(f).Parse {
		f.Add([]byte(c.Text))
	}
	f.Add([]byte(`{"action":"scrape","files":{"a":{"complete":1,"incomplete":2,"downloaded":1}},"flags":{"min_request_interval":600}}`))
	f.Add([]byte(`{"action":"scrape","info_hash":["a","\u00ff"]}`))
	f.Add([]byte(`{"failure reason":"x","warning message":"y","tracker id":"z","min interval":5}`))
	f.Add([]byte(`{"action":"announce","offers":[{"offer":null},{"offer":{"type":null,"sdp":"\ud83d\ude00"}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var raw RawTrackerMessage
		checkRaw(t, in, &raw)
		m, err := DecodeTrackerMessage(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		enc := m.AppendJSON(nil)
		if !utf8.Valid(enc) || !json.Valid(enc) {
			t.Fatalf("encoding %q is not valid UTF-8 JSON", enc)
		}
		m2, err := DecodeTrackerMessage(enc)
		if err != nil {
			t.Fatalf("re-decode %q: %v", enc, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, m2)
		}
		if enc2 := m2.AppendJSON(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func BenchmarkDecodeTrackerAnnounce(b *testing.B) {
	raw := []byte(loadTrackerCaptures(b)["tracker-23.json"].Messages[0].Raw)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := DecodeTrackerMessage(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeTrackerAnnounce(b *testing.B) {
	m, err := DecodeTrackerMessage([]byte(loadTrackerCaptures(b)["tracker-23.json"].Messages[0].Raw))
	require.NoError(b, err)
	buf := make([]byte, 0, 8192)
	for b.Loop() {
		buf = m.AppendJSON(buf[:0])
	}
}
