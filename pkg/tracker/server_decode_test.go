package tracker

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

// browserFrames returns the frames real P2P Media Loader clients sent in the
// wire golden vectors (client->tracker).
func browserFrames(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range []string{"tracker-22.json", "tracker-23.json"} {
		b, err := os.ReadFile(filepath.Join("..", "wire", "testdata", "v2", name))
		require.NoError(t, err)
		var v struct {
			Messages []struct {
				Dir string `json:"dir"`
				Raw string `json:"raw"`
			} `json:"messages"`
		}
		require.NoError(t, json.Unmarshal(b, &v))
		for _, m := range v.Messages {
			if m.Dir == "client->tracker" {
				out = append(out, []byte(m.Raw))
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

// decodeLit decodes a raw string literal with the wire decoder.
func decodeLit(t testing.TB, lit []byte, binary bool) string {
	t.Helper()
	if lit == nil {
		return ""
	}
	key := "trackerid"
	if binary {
		key = "offer_id"
	}
	m, err := wire.DecodeTrackerMessage([]byte(`{"` + key + `":` + string(lit) + `}`))
	require.NoError(t, err, "literal %q", lit)
	if binary {
		return m.OfferID
	}
	return m.TrackerID
}

func wantEnum(v string, names map[string]uint8, none, other uint8) uint8 {
	if v == "" {
		return none
	}
	if e, ok := names[v]; ok {
		return e
	}
	return other
}

func requireSameID(t testing.TB, want string, got binID, name string) {
	t.Helper()
	require.Equal(t, len(want), got.n, name)
	require.Equal(t, want[:min(20, len(want))], string(got.b[:min(20, got.n)]), name)
}

// checkDecodeIn requires decodeIn to agree with wire.DecodeTrackerMessage on
// every member the server uses, whenever the wire decoder accepts b.
func checkDecodeIn(t testing.TB, b []byte) {
	var m inMessage
	err := decodeIn(b, &m)
	wm, werr := wire.DecodeTrackerMessage(b)
	if werr != nil {
		return // decodeIn may accept more: it skips response-only members
	}
	require.NoError(t, err, "wire accepts %q", b)
	require.Equal(t, wantEnum(wm.Action, actionNames, actNone, actOther), m.action, "action")
	require.Equal(t, wantEnum(wm.Event, eventNames, evNone, evOther), m.event, "event")
	require.Equal(t, wm.InfoHashes != nil, m.infoHashList, "info_hash list")
	if wm.InfoHashes == nil {
		requireSameID(t, wm.InfoHash, m.infoHash, "info_hash")
	}
	requireSameID(t, wm.PeerID, m.peerID, "peer_id")
	requireSameID(t, wm.ToPeerID, m.toPeerID, "to_peer_id")
	require.Equal(t, wm.NumWant != nil, m.hasNumWant, "numwant present")
	if wm.NumWant != nil {
		require.Equal(t, *wm.NumWant, m.numWant)
	}
	require.Equal(t, wm.Left != nil, m.hasLeft, "left present")
	if wm.Left != nil {
		require.Equal(t, *wm.Left, m.left)
	}
	require.Equal(t, wm.OfferID, decodeLit(t, m.offerID, true), "offer_id")
	require.Len(t, m.offers, len(wm.Offers), "offers")
	for i, o := range wm.Offers {
		require.Equal(t, o.OfferID, decodeLit(t, m.offers[i].offerID, true), "offers[%d].offer_id", i)
		require.Equal(t, o.Offer.SDP, decodeLit(t, m.offers[i].sdp, false), "offers[%d].sdp", i)
	}
	require.Equal(t, wm.Answer != nil, m.hasAnswer, "answer present")
	if wm.Answer != nil {
		require.Equal(t, wm.Answer.Type, decodeLit(t, m.answerType, false), "answer.type")
		require.Equal(t, wm.Answer.SDP, decodeLit(t, m.answerSDP, false), "answer.sdp")
	}
}

func TestDecodeInMatchesWire(t *testing.T) {
	ih, pid := binaryID(1), binaryID(2)
	cases := [][]byte{
		announceMsg(ih, pid, "started", 5, testOffer(binaryID(3), "v=0\r\né\"\\\u2028\U0001F600")).AppendJSON(nil),
		answerMsg(ih, pid, binaryID(4), binaryID(5), "v=0\r\n").AppendJSON(nil),
		[]byte(`{"action":"announce","info_hash":null,"peer_id":"x","peer_id":"` + pid + `","numwant":5e0,"left":0.0}`),
		[]byte(`{"\u0061ction":"\u0061nnounce","event":"","offers":null,"answer":null,"offer_id":""}`),
		[]byte(`{"action":"announce","offers":[{"offer":null},{"offer_id":null},{"offer":{"type":null,"sdp":""},"x":[1,{"y":"\ud800"}]}]}`),
		[]byte(`{"action":"scrape","info_hash":["` + ih + `","` + pid + `"]}`),
		[]byte(`{"action":"a very long action name indeed","event":"stoppedx","answer":{"type":"answer"}}`),
		[]byte(` { "action" : "announce" , "info_hash" : "\u0000\u00ff" } `),
	}
	cases = append(cases, browserFrames(t)...)
	for _, b := range cases {
		checkDecodeIn(t, b)
	}
	// What the wire decoder refuses in a member the server uses, it refuses.
	for _, bad := range []string{
		`{"action":1}`, `{"offers":[1]}`, `{"offers":{}}`, `{"answer":"x"}`, `{"peer_id":"Ā"}`, `{"offer_id":"\ud800"}`,
		`{"numwant":1.5}`, `{"numwant":9007199254740993}`, `{"offers":[{"offer":{"sdp":"\udc00"}}]}`, `{"a":1}x`, `[]`,
		"{\"action\":\"\xff\"}", `{"info_hash":["x",null]}`, `{"event":"\u12"}`,
	} {
		var m inMessage
		require.Error(t, decodeIn([]byte(bad), &m), bad)
		_, werr := wire.DecodeTrackerMessage([]byte(bad))
		require.Error(t, werr, bad)
	}
}

// FuzzDecodeIn holds the server's decoder to the wire decoder.
func FuzzDecodeIn(f *testing.F) {
	ih, pid := binaryID(1), binaryID(2)
	f.Add(announceMsg(ih, pid, "started", 5, testOffer("o", "v=0\r\n")).AppendJSON(nil))
	f.Add(answerMsg(ih, pid, binaryID(3), "o", "sdp").AppendJSON(nil))
	f.Add([]byte(`{"action":"scrape","info_hash":["a"]}`))
	f.Add([]byte(`{"\u0061ction":null,"offers":[{"offer":{"type":"offer","sdp":"\ud83d\ude00"}}]}`))
	for _, b := range browserFrames(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeIn(t, b)
	})
}

// BenchmarkDecodeIn decodes a browser announce (5 offers, real SDP from the
// wire vectors) with the server's decoder and with the wire decoder.
func BenchmarkDecodeIn(b *testing.B) {
	var frame []byte
	for _, f := range browserFrames(b) {
		if len(f) > len(frame) {
			frame = f
		}
	}
	b.Run("server", func(b *testing.B) {
		var m inMessage
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			if err := decodeIn(frame, &m); err != nil {
				b.Fatal(err)
			}
			m.release()
		}
	})
	b.Run("wire", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := wire.DecodeTrackerMessage(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestSpecial8(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			var b [8]byte
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(c)
			require.Equal(t, !plainASCII[c], special8(binary.LittleEndian.Uint64(b[:])), "byte %#x at %d", c, pos)
		}
	}
}
