package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// browserTrackerFrames returns the frames real P2P Media Loader clients sent
// in the golden captures (client->tracker).
func browserTrackerFrames(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, c := range loadTrackerCaptures(t) {
		for _, m := range c.Messages {
			if m.Dir == "client->tracker" {
				out = append(out, []byte(m.Raw))
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

// testBinaryID returns a 20-byte id whose bytes cover the ranges that need
// care: control characters, '"', '\\', 0x7F and 0x80..0xFF.
func testBinaryID(seed byte) string {
	return string([]byte{0x00, 0xff, 0x10, 0x7f, 0x80, 0xc3, '"', '\\', 0x1f, 0x9b, 0xa0, 0xfe, 0x20, 0x41, 0xe2, 0x80, 0xa8,
		0x0a, 0x0d, seed})
}

func testAnnounce(ih, pid, event string, numwant int64, offers ...TrackerOffer) *TrackerMessage {
	m := &TrackerMessage{Action: "announce", NumWant: i64(numwant), Uploaded: i64(0), Downloaded: i64(0),
		Event: event, InfoHash: ih, PeerID: pid}
	if len(offers) > 0 {
		m.Offers = offers
	}
	return m
}

func testTrackerOffer(id, sdp string) TrackerOffer {
	return TrackerOffer{Offer: TrackerSDP{Type: "offer", SDP: sdp}, OfferID: id}
}

func testAnswer(ih, from, to, offerID, sdp string) *TrackerMessage {
	return &TrackerMessage{Action: "announce", InfoHash: ih, PeerID: from, ToPeerID: to,
		Answer: &TrackerSDP{Type: "answer", SDP: sdp}, OfferID: offerID}
}

// literalValue decodes a literal kept by DecodeRawTrackerMessage.
func literalValue(t testing.TB, lit []byte, binary bool) string {
	t.Helper()
	if lit == nil {
		return ""
	}
	d := trackerScanner{b: lit}
	v, err := d.string(binary)
	require.NoError(t, err, "literal %q", lit)
	require.Equal(t, len(lit), d.i, "literal %q", lit)
	return v
}

func requireID(t testing.TB, want string, got BinaryID, name string) {
	t.Helper()
	require.Equal(t, len(want), got.Len, name)
	require.Equal(t, want[:min(20, len(want))], string(got.Bytes[:min(20, got.Len)]), name)
}

func wantAction(v string) TrackerAction {
	switch v {
	case "":
		return TrackerActionNone
	case "announce":
		return TrackerActionAnnounce
	case "scrape":
		return TrackerActionScrape
	}
	return TrackerActionOther
}

func wantEvent(v string) TrackerEvent {
	for e, name := range []string{"", "started", "stopped", "completed", "update", "paused"} {
		if v == name {
			return TrackerEvent(e)
		}
	}
	return TrackerEventOther
}

// checkRaw requires DecodeRawTrackerMessage to accept whatever
// DecodeTrackerMessage accepts and to agree with it on every member it holds
// (its literals decoding to the same values), and its errors to wrap
// ErrMalformed. m is reused, as a tracker reuses it.
func checkRaw(t testing.TB, b []byte, m *RawTrackerMessage) {
	t.Helper()
	err := DecodeRawTrackerMessage(b, m)
	defer m.Reset()
	if err != nil && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v does not wrap ErrMalformed", err)
	}
	wm, werr := DecodeTrackerMessage(b)
	if werr != nil {
		return // the raw decoder may accept more: it skips members it does not hold
	}
	require.NoError(t, err, "DecodeTrackerMessage accepts %q", b)
	require.Equal(t, wantAction(wm.Action), m.Action, "action")
	require.Equal(t, wantEvent(wm.Event), m.Event, "event")
	require.Equal(t, wm.InfoHashes != nil, m.InfoHashList, "info_hash list")
	if wm.InfoHashes == nil {
		requireID(t, wm.InfoHash, m.InfoHash, "info_hash")
	}
	requireID(t, wm.PeerID, m.PeerID, "peer_id")
	requireID(t, wm.ToPeerID, m.ToPeerID, "to_peer_id")
	require.Equal(t, wm.NumWant != nil, m.HasNumWant, "numwant present")
	if wm.NumWant != nil {
		require.Equal(t, *wm.NumWant, m.NumWant)
	}
	require.Equal(t, wm.Left != nil, m.HasLeft, "left present")
	if wm.Left != nil {
		require.Equal(t, *wm.Left, m.Left)
	}
	require.Equal(t, wm.OfferID, literalValue(t, m.OfferID, true), "offer_id")
	require.Len(t, m.Offers, len(wm.Offers), "offers")
	for i, o := range wm.Offers {
		require.Equal(t, o.OfferID, literalValue(t, m.Offers[i].OfferID, true), "offers[%d].offer_id", i)
		require.Equal(t, o.Offer.SDP, literalValue(t, m.Offers[i].SDP, false), "offers[%d].sdp", i)
	}
	require.Equal(t, wm.Answer != nil, m.HasAnswer, "answer present")
	if wm.Answer != nil {
		require.Equal(t, wm.Answer.Type, literalValue(t, m.Answer.Type, false), "answer.type")
		require.Equal(t, wm.Answer.SDP, literalValue(t, m.Answer.SDP, false), "answer.sdp")
	}
}

func TestDecodeRawTrackerMessage(t *testing.T) {
	ih, pid := testBinaryID(1), testBinaryID(2)
	cases := [][]byte{
		testAnnounce(ih, pid, "started", 5, testTrackerOffer(testBinaryID(3), "v=0\r\né\"\\\u2028\U0001F600")).AppendJSON(nil),
		testAnswer(ih, pid, testBinaryID(4), testBinaryID(5), "v=0\r\n").AppendJSON(nil),
		[]byte(`{"action":"announce","info_hash":null,"peer_id":"x","peer_id":"` + pid + `","numwant":5e0,"left":0.0}`),
		[]byte(`{"\u0061ction":"\u0061nnounce","event":"","offers":null,"answer":null,"offer_id":""}`),
		[]byte(`{"action":"announce","offers":[{"offer":null},{"offer_id":null},{"offer":{"type":null,"sdp":""},"x":[1,{"y":"\ud800"}]}]}`),
		[]byte(`{"action":"scrape","info_hash":["` + ih + `","` + pid + `"]}`),
		[]byte(`{"action":"a very long action name indeed","event":"stoppedx","answer":{"type":"answer"}}`),
		[]byte(` { "action" : "announce" , "info_hash" : "\u0000\u00ff" } `),
		[]byte(`{"event":"update"}`), []byte(`{"event":"paused","action":"scrape"}`), []byte(`{"event":"completed"}`),
		[]byte(`{"action":"announce","peer_id":"short","to_peer_id":"` + pid + pid + `"}`),
	}
	cases = append(cases, browserTrackerFrames(t)...)
	var m RawTrackerMessage
	for _, b := range cases {
		checkRaw(t, b, &m)
	}

	// A tracker does not read response members, so it does not check them.
	require.NoError(t, DecodeRawTrackerMessage([]byte(`{"action":"announce","interval":"x","files":[]}`), &m))
	require.Equal(t, TrackerActionAnnounce, m.Action)

	// What DecodeTrackerMessage refuses in a member the raw decoder holds, it
	// refuses too.
	for _, bad := range []string{
		`{"action":1}`, `{"offers":[1]}`, `{"offers":{}}`, `{"answer":"x"}`, `{"peer_id":"Ā"}`, `{"offer_id":"\ud800"}`,
		`{"numwant":1.5}`, `{"numwant":9007199254740993}`, `{"offers":[{"offer":{"sdp":"\udc00"}}]}`, `{"a":1}x`, `[]`,
		"{\"action\":\"\xff\"}", `{"info_hash":["x",null]}`, `{"event":"\u12"}`, `{"offer":{"type":1}}`,
		`{"uploaded":"0"}`, `{"downloaded":1.5}`, `{"trackerid":1}`, `{"trackerid":"\udc00"}`,
		`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		err := DecodeRawTrackerMessage([]byte(bad), &m)
		require.ErrorIs(t, err, ErrMalformed, bad)
		_, werr := DecodeTrackerMessage([]byte(bad))
		require.ErrorIs(t, werr, ErrMalformed, bad)
	}
}

// TestDecodeRawTrackerMessageAliases checks that literals alias the frame and
// that Reset drops them but keeps the offers' capacity.
func TestDecodeRawTrackerMessageAliases(t *testing.T) {
	ih, pid := testBinaryID(1), testBinaryID(2)
	frame := testAnnounce(ih, pid, "", 2, testTrackerOffer("a", "v=0\r\n"), testTrackerOffer("b", "s")).AppendJSON(nil)
	var m RawTrackerMessage
	require.NoError(t, DecodeRawTrackerMessage(frame, &m))
	require.Equal(t, `"v=0\r\n"`, string(m.Offers[0].SDP))
	require.Equal(t, `"b"`, string(m.Offers[1].OfferID))
	require.Same(t, &frame[len(frame)-6], &m.Offers[1].OfferID[0], "literal aliases the frame")
	require.True(t, m.InfoHash.Valid())
	require.Equal(t, ih, m.InfoHash.String())
	m.Reset()
	require.Equal(t, 2, cap(m.Offers))
	require.Nil(t, m.Offers[:2][0].SDP)
	require.Equal(t, "", m.PeerID.String())
}

func TestSpecial8(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			var b [8]byte
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(c)
			require.Equal(t, !plainASCII[c], special8(binary8.Uint64(b[:])), "byte %#x at %d", c, pos)
		}
	}
}

// benchTrackerFrames returns an announce with 10 offers and an answer, both
// with a real browser SDP, and the largest real browser announce (5 offers).
func benchTrackerFrames(b *testing.B) (announce10, answer, browser []byte) {
	for _, f := range browserTrackerFrames(b) {
		if len(f) > len(browser) {
			browser = f
		}
	}
	m, err := DecodeTrackerMessage(browser)
	require.NoError(b, err)
	sdp := m.Offers[0].Offer.SDP
	ih, pid := testBinaryID(1), testBinaryID(2)
	offers := make([]TrackerOffer, 10)
	for i := range offers {
		offers[i] = testTrackerOffer(fmt.Sprintf("%s%02d", testBinaryID(byte(i))[:18], i), sdp)
	}
	announce10 = testAnnounce(ih, pid, "", 10, offers...).AppendJSON(nil)
	answer = testAnswer(ih, testBinaryID(3), pid, testBinaryID(4), sdp).AppendJSON(nil)
	return announce10, answer, browser
}

func BenchmarkDecodeRawTrackerMessage(b *testing.B) {
	announce10, answer, browser := benchTrackerFrames(b)
	for _, bc := range []struct {
		name  string
		frame []byte
	}{{"announce10", announce10}, {"answer", answer}, {"browser5", browser}} {
		b.Run(bc.name, func(b *testing.B) {
			var m RawTrackerMessage
			b.SetBytes(int64(len(bc.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if err := DecodeRawTrackerMessage(bc.frame, &m); err != nil {
					b.Fatal(err)
				}
				m.Reset()
			}
		})
	}
}
