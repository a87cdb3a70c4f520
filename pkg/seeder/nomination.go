package seeder

import (
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
)

// nominations makes superpeer's ICE agents, when a browser is the
// controlling side (it offered), use the candidate pair the browser
// nominated last.
//
// pion, as the controlled agent, switches only to a nominated pair of
// higher priority than the one it selected. Chromium nominates one pair
// first and may move to another of lower priority (with 127.0.0.1 and an
// IPv6 address, it settled on the IPv6 pair); from then on it sends its
// data and checks there. pion keeps writing on its old pair, which
// Chromium still accepts, but nothing arrives from that pair's remote
// candidate any more, so pion failed the connection after its
// disconnected and failed timeouts (20 s) while the browser was playing
// from it. Following the latest nomination is what the controlling side
// asks for (RFC 8445 section 8.1.1 lets it nominate again), and it keeps
// the browser's own checks, every 2.5 s from Chromium, on the selected
// pair, which is what pion watches.
//
// One nominations serves every connection of the process: pion's hook is
// set on the shared SettingEngine. Connections are told apart by
// superpeer's ICE username fragment, unique per connection.
type nominations struct {
	mu sync.Mutex
	// last is the pair id last nominated, by local username fragment.
	// pion numbers pairs per agent.
	last map[string]uint64
}

func newNominations() *nominations {
	return &nominations{last: map[string]uint64{}}
}

// handle is pion's binding request hook: it reports whether pion is to
// select pair. It runs on the agent's goroutine for every binding request,
// so it does nothing but a map lookup for a nomination (USE-CANDIDATE),
// and nothing at all for a plain check.
func (n *nominations) handle(m *stun.Message, _, _ ice.Candidate, pair *ice.CandidatePair) bool {
	if !m.Contains(stun.AttrUseCandidate) {
		return false
	}
	// Only a pair whose own check was answered: one that is known to work
	// both ways. pion selects such a pair itself when it is nominated.
	if pair.FirstResponseReceivedAt().IsZero() {
		return false
	}
	var user stun.Username
	if err := user.GetFrom(m); err != nil {
		return false
	}
	// A request's USERNAME is "<recipient's ufrag>:<sender's ufrag>".
	ufrag, _, _ := strings.Cut(string(user), ":")
	return n.nominated(ufrag, pair.ID())
}

// nominated records that the connection with local username fragment
// ufrag had pair nominated, and reports whether that is a change. A first
// nomination counts as a change: pion may have selected another pair
// before, and selecting the same pair again only repeats an event.
func (n *nominations) nominated(ufrag string, pair uint64) bool {
	if ufrag == "" {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if last, ok := n.last[ufrag]; ok && last == pair {
		return false
	}
	n.last[ufrag] = pair
	return true
}

// forget drops a closed connection's record.
func (n *nominations) forget(ufrag string) {
	if n == nil || ufrag == "" {
		return
	}
	n.mu.Lock()
	delete(n.last, ufrag)
	n.mu.Unlock()
}

// len is the number of connections with a record.
func (n *nominations) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.last)
}

// iceUfrag returns the first ice-ufrag of an SDP, or "".
func iceUfrag(sdp string) string {
	_, rest, ok := strings.Cut(sdp, "a=ice-ufrag:")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "\r\n"); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSpace(rest)
}
