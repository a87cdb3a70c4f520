//go:build interop

package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startTracker runs harness/tracker.mjs (npm bittorrent-tracker, WebSocket only) on 127.0.0.1 and
// returns its announce URL ws://127.0.0.1:port. The tracker stops with t (stdin closed, then killed
// after 5 s); its log is printed if t failed.
func startTracker(t testing.TB) string {
	t.Helper()
	return startTrackerOn(t, "127.0.0.1")
}

// startTrackerOn is startTracker listening on host (an IPv4 address) instead of 127.0.0.1.
func startTrackerOn(t testing.TB, host string) string {
	t.Helper()
	cmd := exec.Command("node", filepath.Join(interopDir(t), "harness", "tracker.mjs"), "--host", host)
	cmd.Dir = interopDir(t)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())

	done := make(chan error, 1)
	t.Cleanup(func() {
		_ = stdin.Close() // tracker.mjs exits when stdin closes
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("tracker log:\n%s", logs.String())
		}
	})

	type hello struct {
		Port int `json:"port"`
	}
	line := make(chan hello, 1)
	go func() {
		var h hello
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			_ = json.Unmarshal(sc.Bytes(), &h)
		}
		line <- h
		for sc.Scan() { // drain; the tracker prints nothing more
		}
		done <- cmd.Wait()
	}()
	select {
	case h := <-line:
		require.NotZero(t, h.Port, "tracker did not report a port; log:\n%s", logs.String())
		return fmt.Sprintf("ws://%s:%d", host, h.Port)
	case <-time.After(15 * time.Second):
		t.Fatalf("tracker did not start within 15 s; log:\n%s", logs.String())
		return ""
	}
}
