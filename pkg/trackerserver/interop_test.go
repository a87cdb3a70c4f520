package trackerserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// btClientEvent is one line of testdata/bt-client.mjs.
type btClientEvent struct {
	Event      string `json:"event"`
	Client     string `json:"client"`
	Type       string `json:"type"`
	SDP        string `json:"sdp"`
	Message    string `json:"message"`
	Complete   *int   `json:"complete"`
	Incomplete *int   `json:"incomplete"`
}

// TestServerWithNPMClient has the real npm bittorrent-tracker client (what
// every P2P Media Loader browser runs) announce to the Server: four clients in
// two swarms over two shared sockets, one swarm with a binary (0.6 style)
// info hash. WebRTC is stubbed in node, so only the signalling is checked:
// each late joiner's offer reaches the early one, whose answer comes back.
func TestServerWithNPMClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node; skipped with -short")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	modules, err := filepath.Abs(filepath.Join("..", "..", "test", "interop", "node_modules"))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(modules, "bittorrent-tracker", "client.js")); err != nil {
		t.Skipf("npm bittorrent-tracker not installed in %s", modules)
	}
	h := newServerHarness(t, nil)

	cmd := exec.Command(node, filepath.Join("testdata", "bt-client.mjs"), modules, h.url)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	events := make(chan btClientEvent, 256)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e btClientEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = stdin.Close()
			_ = cmd.Process.Kill()
			wg.Wait()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("node stderr:\n%s", stderr.String())
		}
	})

	// Wait until both late joiners (B, D) got the early ones' (A, C) answers.
	remote := map[string][]btClientEvent{}
	updates := map[string][]btClientEvent{}
	deadline := time.After(20 * time.Second)
	for len(remote["B"]) == 0 || len(remote["D"]) == 0 {
		select {
		case e, ok := <-events:
			require.True(t, ok, "bt-client.mjs exited early")
			switch e.Event {
			case "remote":
				remote[e.Client] = append(remote[e.Client], e)
			case "update":
				updates[e.Client] = append(updates[e.Client], e)
			case "warning", "error":
				t.Fatalf("client %s %s: %s", e.Client, e.Event, e.Message)
			}
		case <-deadline:
			t.Fatalf("no answers relayed; remote descriptions %+v, updates %+v", remote, updates)
		}
	}
	for _, pair := range [][2]string{{"A", "B"}, {"C", "D"}} {
		early, late := pair[0], pair[1]
		require.Len(t, remote[early], 1, "%s gets one offer (one other peer)", early)
		o := remote[early][0]
		require.Equal(t, "offer", o.Type)
		require.Contains(t, o.SDP, "s="+late+"-offer-")
		require.Contains(t, o.SDP, "-é\r\n", "UTF-8 SDP relayed intact")
		require.NotContains(t, o.SDP, "a=ice-options:trickle", "simple-peer strips trickle before sending")
		a := remote[late][0]
		require.Equal(t, "answer", a.Type)
		require.Contains(t, a.SDP, "s="+early+"-answer-")
		require.NotEmpty(t, updates[late])
		require.Equal(t, 2, *updates[late][0].Incomplete, "%s's response counts both peers", late)
		require.Equal(t, 0, *updates[late][0].Complete)
	}
	require.Equal(t, Stats{Connections: 2, Peers: 4, PeerIDs: 4, Swarms: 2}, h.srv.Stats())
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.relayed.WithLabelValues("offer")))
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.m.relayed.WithLabelValues("answer")) == 2 }, waitFor, time.Millisecond)
	require.Zero(t, testutil.ToFloat64(h.m.messages.WithLabelValues("in", "malformed")))
	require.Zero(t, testutil.ToFloat64(h.m.messages.WithLabelValues("out", "failure")))

	// client.stop() sends "stopped": every membership goes, the sockets stay.
	_, err = fmt.Fprintln(stdin, "stop")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return h.srv.Stats() == Stats{Connections: 2} }, waitFor, time.Millisecond)
	// destroy() closes the sockets.
	require.NoError(t, stdin.Close())
	require.Eventually(t, func() bool { return h.srv.Stats() == Stats{} }, waitFor, time.Millisecond)
	exited = true
	wg.Wait()
	require.NoError(t, cmd.Wait())
}
