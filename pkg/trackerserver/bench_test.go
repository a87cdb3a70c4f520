package trackerserver

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
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

// benchFrames returns the frames the server benchmarks decode: an announce
// with 10 offers and a relayed answer, both with a real browser SDP (from the
// wire vectors), and the largest real browser announce (5 offers).
func benchFrames(b *testing.B) (announce10, answer, browser []byte, ih, pid string) {
	b.Helper()
	for _, f := range browserFrames(b) {
		if len(f) > len(browser) {
			browser = f
		}
	}
	m, err := wire.DecodeTrackerMessage(browser)
	if err != nil || len(m.Offers) == 0 {
		b.Fatalf("browser announce: %v", err)
	}
	sdp := m.Offers[0].Offer.SDP
	ih, pid = binaryID(1), binaryID(2)
	offers := make([]wire.TrackerOffer, 10)
	for i := range offers {
		offers[i] = testOffer(fmt.Sprintf("%s%02d", binaryID(byte(i))[:18], i), sdp)
	}
	announce10 = announceMsg(ih, pid, "", 10, offers...).AppendJSON(nil)
	answer = answerMsg(ih, binaryID(3), pid, binaryID(4), sdp).AppendJSON(nil)
	return announce10, answer, browser, ih, pid
}

// BenchmarkDecode decodes the frames of benchFrames the way the server does
// (into a reused message, literals kept raw).
func BenchmarkDecode(b *testing.B) {
	announce10, answer, browser, _, _ := benchFrames(b)
	for _, bc := range []struct {
		name  string
		frame []byte
	}{{"announce10", announce10}, {"answer", answer}, {"browser5", browser}} {
		b.Run(bc.name, func(b *testing.B) {
			var m wire.RawTrackerMessage
			b.SetBytes(int64(len(bc.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if err := wire.DecodeRawTrackerMessage(bc.frame, &m); err != nil {
					b.Fatal(err)
				}
				m.Reset()
			}
		})
	}
}

// BenchmarkHandle runs the server's whole message path without sockets:
// decode, swarm update and the relayed frames built and queued. The
// announce's 10 offers go to the 10 other members of its swarm; the answer
// goes back to the announcer.
func BenchmarkHandle(b *testing.B) {
	announce10, answer, _, ih, pid := benchFrames(b)
	s, err := New(Config{Logger: zerolog.Nop(), MaxMessageRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	// No socket: writing=true keeps a writer from starting; queues head-drop.
	a := &sconn{s: s, writing: true}
	s.conns[a] = struct{}{}
	var m wire.RawTrackerMessage
	s.handle(a, announceMsg(ih, pid, "started", 0).AppendJSON(nil), &m, 1)
	m.Reset()
	for i := range 10 {
		c := &sconn{s: s, writing: true}
		s.conns[c] = struct{}{}
		s.handle(c, announceMsg(ih, binaryID(byte(100+i)), "started", 0).AppendJSON(nil), &m, 1)
		m.Reset()
	}
	// The answerer is the announcer's peer too: answer goes to a.
	answerer := &sconn{s: s, writing: true}
	s.conns[answerer] = struct{}{}
	s.handle(answerer, announceMsg(ih, binaryID(3), "started", 0).AppendJSON(nil), &m, 1)
	m.Reset()
	for _, bc := range []struct {
		name  string
		c     *sconn
		frame []byte
	}{{"announce10", a, announce10}, {"answer", answerer, answer}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if !s.handle(bc.c, bc.frame, &m, 2) {
					b.Fatal("handle failed")
				}
				m.Reset()
			}
		})
	}
}
