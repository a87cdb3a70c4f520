package trackertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/superpeer/superpeer/pkg/wire"
)

// Browser is a simulated P2P Media Loader 5.x tracker client
// (webtorrent/webtorrent-client/index.ts, shared/docs/protocol-v3.md §3): one
// WebSocket to the tracker for every swarm of the page, one peer id
// ("-PM0500-" and 12 alphanumerics) in every swarm, and the exact JSON it
// writes. It makes no WebRTC connections: offers and answers carry whatever
// SDP the test gives.
//
// Shapes, as JSON.stringify writes the 5.x payloads:
//
//	announce {"action":"announce","info_hash":S,"peer_id":S,"numwant":<offers sent>,
//	          "uploaded":0,"downloaded":0,"offers":[{"offer":{"type":"offer","sdp":S},"offer_id":S},…],
//	          "event"?:"started"|"stopped","trackerid"?:S}
//	answer   {"action":"announce","info_hash":S,"peer_id":S,"to_peer_id":S,"offer_id":S,
//	          "answer":{"type":"answer","sdp":S}}
//
// "offers" is [] (numwant 0) when the browser makes none: when it already has
// p2pMaxPeers peers, and in "stopped". The "tracker id" of any message read by
// Next is echoed as "trackerid" in later announces, as 5.x does.
type Browser struct {
	// PeerID is the browser's peer id, the same in every swarm.
	PeerID string

	ws   *websocket.Conn
	wmu  sync.Mutex
	msgs chan browserFrame
	done chan struct{}

	mu        sync.Mutex
	trackerID string
}

type browserFrame struct {
	b   []byte
	err error
}

// BrowserOffer is one offer of a Browser's announce.
type BrowserOffer struct {
	ID  string // offer_id: 20 characters of [A-Za-z0-9], as 5.x generates
	SDP string
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomAlnum returns n random characters of [A-Za-z0-9], the alphabet of
// 5.x peer ids and offer ids.
func RandomAlnum(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rand.IntN(len(alnum))]
	}
	return string(b)
}

// NewBrowserPeerID returns a 5.x peer id: "-PM0500-" and 12 alphanumerics.
func NewBrowserPeerID() string { return "-PM0500-" + RandomAlnum(12) }

// NewBrowserOffer returns an offer with a fresh 5.x-style offer id.
func NewBrowserOffer(sdp string) BrowserOffer { return BrowserOffer{ID: RandomAlnum(20), SDP: sdp} }

// DialBrowser connects a Browser with peer id peerID (NewBrowserPeerID if
// empty) to the tracker at url and closes it when the test ends.
func DialBrowser(t testing.TB, url, peerID string) *Browser {
	t.Helper()
	if peerID == "" {
		peerID = NewBrowserPeerID()
	}
	d := websocket.Dialer{EnableCompression: true}
	ws, resp, err := d.Dial(url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial browser %s: %v", url, err)
	}
	b := &Browser{PeerID: peerID, ws: ws, msgs: make(chan browserFrame, 256), done: make(chan struct{})}
	go b.readLoop()
	t.Cleanup(b.Close)
	return b
}

func (b *Browser) readLoop() {
	defer close(b.done)
	for {
		_, p, err := b.ws.ReadMessage()
		if err != nil {
			b.msgs <- browserFrame{err: err}
			return
		}
		b.msgs <- browserFrame{b: p}
	}
}

// Close closes the socket and waits for the reader.
func (b *Browser) Close() {
	_ = b.ws.Close()
	<-b.done
}

// Announce sends an announce for infoHash with event "" (periodic), "started"
// or "stopped" and the given offers; numwant is their number. A "stopped"
// announce should carry none.
func (b *Browser) Announce(infoHash, event string, offers ...BrowserOffer) error {
	b.mu.Lock()
	tid := b.trackerID
	b.mu.Unlock()
	return b.send(AnnounceJSON5(infoHash, b.PeerID, event, tid, offers))
}

// Stop sends the "stopped" announce 5.x sends when a swarm's client is
// destroyed: numwant 0, offers [].
func (b *Browser) Stop(infoHash string) error { return b.Announce(infoHash, "stopped") }

// Answer answers offer offerID of peer toPeerID in infoHash.
func (b *Browser) Answer(infoHash, toPeerID, offerID, sdp string) error {
	return b.send(AnswerJSON5(infoHash, b.PeerID, toPeerID, offerID, sdp))
}

// SendRaw writes a text frame as is.
func (b *Browser) SendRaw(p []byte) error { return b.send(p) }

func (b *Browser) send(p []byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if err := b.ws.WriteMessage(websocket.TextMessage, p); err != nil {
		return fmt.Errorf("browser send: %w", err)
	}
	return nil
}

// Next returns the next message from the tracker, decoded and raw, noting
// any "tracker id" for later announces.
func (b *Browser) Next(ctx context.Context) (*wire.TrackerMessage, []byte, error) {
	select {
	case f := <-b.msgs:
		if f.err != nil {
			b.msgs <- f // keep reporting the end
			return nil, nil, fmt.Errorf("browser next: %w", f.err)
		}
		m, err := wire.DecodeTrackerMessage(f.b)
		if err != nil {
			return nil, f.b, fmt.Errorf("browser next %q: %w", f.b, err)
		}
		if m.ResponseTrackerID != "" {
			b.mu.Lock()
			b.trackerID = m.ResponseTrackerID
			b.mu.Unlock()
		}
		return m, f.b, nil
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("browser next: %w", ctx.Err())
	}
}

// AnnounceJSON5 is the announce P2PML 5.x writes (#buildAnnouncePayload):
// members action, info_hash, peer_id, numwant, uploaded, downloaded, offers,
// then event and trackerid when set.
func AnnounceJSON5(infoHash, peerID, event, trackerID string, offers []BrowserOffer) []byte {
	b := []byte(`{"action":"announce","info_hash":`)
	b = wire.AppendJSONString(b, infoHash, true)
	b = append(b, `,"peer_id":`...)
	b = wire.AppendJSONString(b, peerID, true)
	b = fmt.Appendf(b, `,"numwant":%d,"uploaded":0,"downloaded":0,"offers":[`, len(offers))
	for i, o := range offers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"offer":{"type":"offer","sdp":`...)
		b = wire.AppendJSONString(b, o.SDP, false)
		b = append(b, `},"offer_id":`...)
		b = wire.AppendJSONString(b, o.ID, true)
		b = append(b, '}')
	}
	b = append(b, ']')
	if event != "" {
		b = append(b, `,"event":`...)
		b = wire.AppendJSONString(b, event, false)
	}
	if trackerID != "" {
		b = append(b, `,"trackerid":`...)
		b = wire.AppendJSONString(b, trackerID, false)
	}
	return append(b, '}')
}

// AnswerJSON5 is the answer P2PML 5.x writes (#handleIncomingOffer).
func AnswerJSON5(infoHash, peerID, toPeerID, offerID, sdp string) []byte {
	b := []byte(`{"action":"announce","info_hash":`)
	b = wire.AppendJSONString(b, infoHash, true)
	b = append(b, `,"peer_id":`...)
	b = wire.AppendJSONString(b, peerID, true)
	b = append(b, `,"to_peer_id":`...)
	b = wire.AppendJSONString(b, toPeerID, true)
	b = append(b, `,"offer_id":`...)
	b = wire.AppendJSONString(b, offerID, true)
	b = append(b, `,"answer":{"type":"answer","sdp":`...)
	b = wire.AppendJSONString(b, sdp, false)
	return append(b, '}', '}')
}
