package seeder

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func TestNominationRecords(t *testing.T) {
	n := newNominations()
	require.True(t, n.nominated("a", 1), "a first nomination may differ from pion's own choice")
	require.False(t, n.nominated("a", 1), "the same pair again")
	require.True(t, n.nominated("a", 6), "another pair")
	require.True(t, n.nominated("b", 6), "connections are told apart")
	require.True(t, n.nominated("a", 1), "back to the first pair")
	require.False(t, n.nominated("", 1), "a request without our username fragment")
	require.Equal(t, 2, n.len())
	n.forget("a")
	n.forget("b")
	n.forget("")
	require.Zero(t, n.len())
	var none *nominations
	none.forget("a") // peers in tests have no hook
}

func TestICEUfrag(t *testing.T) {
	require.Equal(t, "Ab3+", iceUfrag("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:Ab3+\r\na=ice-pwd:x\r\n"))
	require.Equal(t, "Ab3+", iceUfrag("v=0\na=ice-ufrag:Ab3+\n"))
	require.Equal(t, "", iceUfrag("v=0\r\n"))
}

// TestFollowsBrowserNomination plays a controlling browser, as Chromium
// does with two paths to superpeer: it nominates one candidate pair, then
// another of lower priority, and sends its checks on that one from then on.
// superpeer's connection must select the pair nominated last; pion alone
// keeps the first and, with nothing arriving there, fails a connection
// in use after 20 s.
func TestFollowsBrowserNomination(t *testing.T) {
	t.Run("superpeer", func(t *testing.T) {
		got := nominateTwice(t, newNominations())
		require.Equal(t, "low", got, "superpeer uses the pair the browser nominated last")
	})
	t.Run("pion alone", func(t *testing.T) {
		// The control: without the hook the second nomination is ignored,
		// so this test can tell the difference.
		got := nominateTwice(t, nil)
		require.Equal(t, "high", got, "pion keeps the higher-priority pair")
	})
}

// nominateTwice answers a browser offer with superpeer's WebRTC setup and
// plays the browser's ICE by hand from two UDP sockets on 127.0.0.1: the
// "high" candidate, nominated first, and the "low" one, nominated next. It
// returns which of the two superpeer's connection has selected a second
// after the second nomination.
func nominateTwice(t *testing.T, nom *nominations) string {
	cfg := DefaultConfig().WebRTC
	cfg.ICEServers = nil
	cfg.IncludeLoopback = true
	cfg.Interfaces = []string{"lo"}
	cfg.UDPPort = 0
	cfg.TCPPort = 0
	api, pcc, closer, err := newWebRTC(cfg, zerolog.Nop(), prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}), nil, nom)
	require.NoError(t, err)
	t.Cleanup(func() { _ = closer.Close() })
	pc, err := api.NewPeerConnection(pcc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })

	const ufrag, pwd = "brws", "browserpasswordbrowserpw"
	high, low := newICEEndpoint(t, pwd), newICEEndpoint(t, pwd)
	offer := strings.Join([]string{
		"v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0",
		"a=ice-ufrag:" + ufrag, "a=ice-pwd:" + pwd,
		"a=fingerprint:sha-256 " + strings.TrimSuffix(strings.Repeat("AB:", 32), ":"),
		"a=setup:actpass", "a=mid:0", "a=sctp-port:5000",
		fmt.Sprintf("a=candidate:1 1 udp 2130706431 127.0.0.1 %d typ host", high.port()),
		fmt.Sprintf("a=candidate:2 1 udp 1694498815 127.0.0.1 %d typ host", low.port()),
		"a=end-of-candidates", "",
	}, "\r\n")
	require.NoError(t, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}))
	answer, err := pc.CreateAnswer(nil)
	require.NoError(t, err)
	gathered := webrtc.GatheringCompletePromise(pc)
	require.NoError(t, pc.SetLocalDescription(answer))
	<-gathered
	sdp := pc.LocalDescription().SDP
	var target *net.UDPAddr
	for _, line := range strings.Split(sdp, "\r\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && strings.HasPrefix(f[0], "a=candidate:") && strings.EqualFold(f[2], "udp") && f[4] == "127.0.0.1" {
			port, err := strconv.Atoi(f[5])
			require.NoError(t, err)
			target = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
		}
	}
	require.NotNil(t, target, "superpeer offers a 127.0.0.1 candidate: %s", sdp)
	spUfrag, spPwd := iceUfrag(sdp), sdpValue(sdp, "a=ice-pwd:")

	selected := func() string {
		pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			return ""
		}
		switch int(pair.Remote.Port) {
		case high.port():
			return "high"
		case low.port():
			return "low"
		}
		return "other"
	}
	// superpeer checks both candidates; each answers, so both pairs work.
	require.Eventually(t, func() bool { return high.answered.Load() > 0 && low.answered.Load() > 0 },
		10*time.Second, 20*time.Millisecond, "superpeer checks both browser candidates")
	nominate := func(e *iceEndpoint, want string) {
		require.Eventually(t, func() bool {
			e.nominate(t, target, spUfrag+":"+ufrag, spPwd)
			return selected() == want
		}, 5*time.Second, 100*time.Millisecond, "superpeer selects the %s pair", want)
	}
	nominate(high, "high")
	// From here the browser checks and nominates the lower pair only, as
	// Chromium did every 2.5 s.
	for range 10 {
		low.nominate(t, target, spUfrag+":"+ufrag, spPwd)
		time.Sleep(100 * time.Millisecond)
	}
	return selected()
}

// sdpValue returns the rest of the first SDP line starting with prefix.
func sdpValue(sdp, prefix string) string {
	_, rest, ok := strings.Cut(sdp, prefix)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "\r\n")
	return v
}

// iceEndpoint is one browser ICE candidate: a UDP socket that answers
// superpeer's checks and sends nominations.
type iceEndpoint struct {
	conn     *net.UDPConn
	pwd      string
	answered atomic.Int32
}

func newICEEndpoint(t *testing.T, pwd string) *iceEndpoint {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	e := &iceEndpoint{conn: conn, pwd: pwd}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	go func() {
		defer close(done)
		e.serve()
	}()
	return e
}

func (e *iceEndpoint) port() int { return e.conn.LocalAddr().(*net.UDPAddr).Port }

// serve answers binding requests (signed with the browser's password, as
// superpeer's checks are) and drops everything else, DTLS included.
func (e *iceEndpoint) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := e.conn.ReadFromUDP(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || !stun.IsMessage(buf[:n]) {
			continue
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: from.IP, Port: from.Port},
			stun.NewShortTermIntegrity(e.pwd), stun.Fingerprint)
		if err != nil {
			continue
		}
		if _, err := e.conn.WriteToUDP(resp.Raw, from); err == nil {
			e.answered.Add(1)
		}
	}
}

// nominate sends a check with USE-CANDIDATE to superpeer.
func (e *iceEndpoint) nominate(t *testing.T, to *net.UDPAddr, username, pwd string) {
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(username),
		ice.AttrControlling(1), ice.PriorityAttr(1845501695), ice.UseCandidate(),
		stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	require.NoError(t, err)
	_, err = e.conn.WriteToUDP(m.Raw, to)
	require.NoError(t, err)
}
