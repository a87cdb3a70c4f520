package tracker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

// btTracker is a running npm bittorrent-tracker server (testdata/bt-tracker.mjs).
type btTracker struct {
	url string

	mu     sync.Mutex
	events []map[string]any
}

func (b *btTracker) count(event string) int {
	return len(b.messages(event))
}

func (b *btTracker) messages(event string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		if e["event"] == event {
			msg, _ := e["message"].(string)
			out = append(out, msg)
		}
	}
	return out
}

// startBTTracker runs the real bittorrent-tracker server, skipping the test
// when node or the npm package is not installed.
func startBTTracker(t *testing.T, intervalMs int) *btTracker {
	t.Helper()
	if testing.Short() {
		t.Skip("starts node; skipped with -short")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	modules, err := filepath.Abs(filepath.Join("..", "..", "test", "interop", "node_modules"))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(modules, "bittorrent-tracker", "server.js")); err != nil {
		t.Skipf("npm bittorrent-tracker not installed in %s", modules)
	}
	cmd := exec.Command(node, filepath.Join("testdata", "bt-tracker.mjs"), modules, fmt.Sprint(intervalMs))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())

	bt := &btTracker{}
	port := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			if p, ok := e["port"].(float64); ok {
				port <- int(p)
				continue
			}
			t.Logf("bittorrent-tracker: %s", sc.Text())
			bt.mu.Lock()
			bt.events = append(bt.events, e)
			bt.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // the script exits when stdin closes
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = cmd.Wait()
	})
	select {
	case p := <-port:
		bt.url = fmt.Sprintf("ws://127.0.0.1:%d", p)
	case <-time.After(10 * time.Second):
		t.Fatal("bittorrent-tracker did not start")
	}
	return bt
}

// TestBittorrentTrackerInterop runs two Clients in one swarm through the real
// npm bittorrent-tracker server: B's offer reaches A, A's answer reaches B.
func TestBittorrentTrackerInterop(t *testing.T) {
	bt := startBTTracker(t, 100_000) // WebSocket interval = 100 s / 5 = 20 s

	ih, _ := ids("interop")
	type peer struct {
		c    *Client
		f    *fakeSwarm
		pid  string
		stop func()
	}
	start := func(name string) peer {
		c, err := NewClient(Config{URL: bt.url, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
		require.NoError(t, err)
		_, pid := ids(name)
		f := newFakeSwarm(name)
		_, err = c.Join(ih, pid, f)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				require.NoError(t, <-done)
			})
		}
		t.Cleanup(stop)
		return peer{c: c, f: f, pid: pid, stop: stop}
	}

	a := start("a")
	r := recv(t, a.f.responses)
	require.Equal(t, AnnounceResponse{InfoHash: ih, Tracker: bt.url, Interval: 20 * time.Second, Complete: 0, Incomplete: 1}, r)

	b := start("b")
	r = recv(t, b.f.responses)
	require.Equal(t, int64(2), r.Incomplete)
	o := recv(t, a.f.offers)
	require.Equal(t, b.pid, o.PeerID)
	require.Equal(t, ih, o.InfoHash)
	require.True(t, strings.HasPrefix(o.OfferID, "offer-b-"))
	require.Contains(t, o.SDP, "s=b\r\n")

	require.NoError(t, a.c.Answer(o, "v=0\r\ns=answer-from-a\r\n"))
	got := recv(t, b.f.answers)
	require.Equal(t, Answer{InfoHash: ih, PeerID: a.pid, OfferID: o.OfferID, SDP: "v=0\r\ns=answer-from-a\r\n", Tracker: bt.url}, got)
	noRecv(t, a.f.answers, 50*time.Millisecond)

	// The "stopped" announces on shutdown are accepted by the real parser.
	a.stop()
	b.stop()
	require.Eventually(t, func() bool { return bt.count("stop") == 2 }, waitFor, 10*time.Millisecond)
	// The server answers "stopped" too, but we close right after sending it,
	// so it may warn that the socket is closing; nothing else is acceptable.
	for _, w := range bt.messages("warning") {
		require.Contains(t, w, "WebSocket is not open")
	}
}

// TestBittorrentTrackerFrames pins the exact frames the real server sends, to
// document how they differ from wt-tracker's (see wire.TrackerMessage).
func TestBittorrentTrackerFrames(t *testing.T) {
	bt := startBTTracker(t, 100_000)
	ws, _, err := websocket.DefaultDialer.Dial(bt.url, nil)
	require.NoError(t, err)
	defer ws.Close()
	ih, pid := ids("frames")
	zero := int64(0)
	announce := wire.TrackerMessage{Action: "announce", NumWant: &zero, Uploaded: &zero, Downloaded: &zero, Event: "started",
		InfoHash: ih, PeerID: pid}
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, announce.AppendJSON(nil)))
	_ = ws.SetReadDeadline(time.Now().Add(waitFor))
	_, b, err := ws.ReadMessage()
	require.NoError(t, err)
	// Member order is {complete, incomplete, action, interval, info_hash}, not wt-tracker's.
	require.Equal(t, `{"complete":0,"incomplete":1,"action":"announce","interval":20,"info_hash":"`+ih+`"}`, string(b))
	m, err := wire.DecodeTrackerMessage(b)
	require.NoError(t, err)
	require.Equal(t, wire.TrackerKindResponse, m.Kind())

	// A request it cannot parse gets a bare failure naming no swarm.
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"action":"announce","info_hash":"short","peer_id":"x"}`)))
	_, b, err = ws.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, `{"failure reason":"invalid info_hash"}`, string(b))
}
