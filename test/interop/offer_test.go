//go:build interop

package interop

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/seeder"
)

// answerStats mirrors window.__collect() of web/answer.html.
type answerStats struct {
	PeerID       string    `json:"peerId"`
	State        string    `json:"state"`
	AtMs         int64     `json:"atMs"`
	Offers       int       `json:"offers"`
	AnsweredAtMs *int64    `json:"answeredAtMs"`
	OpenedAtMs   *int64    `json:"openedAtMs"`
	ClosedAtMs   *int64    `json:"closedAtMs"`
	Messages     int       `json:"messages"`
	States       [][2]any  `json:"states"`
	Errors       []string  `json:"errors"`
	ICE          ICEReport `json:"ice"`
}

// TestSuperpeerOfferToChromium: superpeer's own offer, answered by Chromium, makes a connection that
// lasts. Here superpeer is the controlling ICE agent and Chromium the controlled one, the other way
// round from a browser that offers; superpeer sends no ICE checks of its own, so the connection
// lives on Chromium's checks reaching the pair superpeer nominated. A bare tracker peer in Chromium
// (web/answer.html, every candidate kept) joins superpeer's 2.3 swarm without offers, answers the
// first offer superpeer's announces bring, and keeps the channel open well past superpeer's 20 s
// ICE failure time.
func TestSuperpeerOfferToChromium(t *testing.T) {
	env := newEnv(t)
	sp := startSuperpeer(t, env, env.Origin.VODMaster())

	resp, err := http.Get(sp.Admin + "/status.json")
	require.NoError(t, err)
	var st seeder.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	var infoHash string
	for _, sw := range st.Streams[0].Variants[0].Swarms {
		if sw.Generation == "2.3" {
			infoHash = sw.InfoHash
		}
	}
	require.Len(t, infoHash, 20, "superpeer's 2.3 swarm: %+v", st.Streams[0].Variants[0].Swarms)

	page := env.Origin.URL + "/web/answer.html?ice=all&tracker=" + url.QueryEscape(env.Tracker) + "&info_hash=" + url.QueryEscape(infoHash)
	res := runBrowsers(t, BrowserSpec{Viewers: []Viewer{{URL: page, Duration: 50 * time.Second}}})
	var s answerStats
	require.NoError(t, json.Unmarshal(res.Viewers[0].RawStats, &s))
	t.Logf("page: %d offers, answered at %v ms, opened at %v ms, closed at %v ms, %d messages, state %s at %d ms; states %v; selected %v; errors %v",
		s.Offers, deref(s.AnsweredAtMs), deref(s.OpenedAtMs), deref(s.ClosedAtMs), s.Messages, s.State, s.AtMs, s.States, s.ICE.SelectedPairs(), s.Errors)
	for _, reason := range []string{"closed", "ice_failed", "shutdown", "misbehaving", "error"} {
		t.Logf("superpeer disconnects %s: %.0f", reason, sp.counter(t, "superpeer_peer_disconnects_total", map[string]string{"reason": reason}))
	}

	require.Empty(t, s.Errors)
	require.NotNil(t, s.OpenedAtMs, "superpeer's offer was answered and its data channel opened")
	require.Positive(t, s.Messages, "superpeer spoke over the channel")
	require.Equal(t, 1.0, sp.counter(t, "superpeer_peer_connections_total", map[string]string{"direction": "offer", "result": "connected"}),
		"the connection is one superpeer offered")
	require.Greater(t, s.AtMs-*s.OpenedAtMs, int64(30_000), "the channel was watched for longer than superpeer's ICE failure time (20 s)")
	require.Nil(t, s.ClosedAtMs, "the channel stayed open")
	require.Equal(t, "connected", s.State)
	require.Zero(t, sp.counter(t, "superpeer_peer_disconnects_total", map[string]string{"reason": "ice_failed"}),
		"superpeer failed the connection")
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
