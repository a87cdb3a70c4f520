package tracker

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/wire"
)

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
			var m inMessage
			b.SetBytes(int64(len(bc.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if err := decodeIn(bc.frame, &m); err != nil {
					b.Fatal(err)
				}
				m.release()
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
	s, err := NewServer(ServerConfig{Logger: zerolog.Nop(), MaxMessageRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	// No socket: writing=true keeps a writer from starting; queues head-drop.
	a := &sconn{s: s, writing: true}
	s.conns[a] = struct{}{}
	var m inMessage
	s.handle(a, announceMsg(ih, pid, "started", 0).AppendJSON(nil), &m, 1)
	m.release()
	for i := range 10 {
		c := &sconn{s: s, writing: true}
		s.conns[c] = struct{}{}
		s.handle(c, announceMsg(ih, binaryID(byte(100+i)), "started", 0).AppendJSON(nil), &m, 1)
		m.release()
	}
	// The answerer is the announcer's peer too: answer goes to a.
	answerer := &sconn{s: s, writing: true}
	s.conns[answerer] = struct{}{}
	s.handle(answerer, announceMsg(ih, binaryID(3), "started", 0).AppendJSON(nil), &m, 1)
	m.release()
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
				m.release()
			}
		})
	}
}
