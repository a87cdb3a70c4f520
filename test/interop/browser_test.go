//go:build interop

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BrowserSpec is the input of harness/browser.mjs: one headless Chromium, one context per viewer.
type BrowserSpec struct {
	Viewers []Viewer
	// ConsoleAll forwards every page console message to the log, not only warnings and errors.
	ConsoleAll bool
	// Netns, when set, runs the harness (and so Chromium) inside that network namespace with
	// `ip netns exec` (root only).
	Netns string
	// ExtraArgs are Chromium flags appended to the harness's own.
	ExtraArgs []string
}

// Viewer opens URL (usually Origin.PlayerURL) after StartDelay and reads its stats after Duration.
type Viewer struct {
	URL        string
	StartDelay time.Duration
	Duration   time.Duration
	Screenshot string    // optional PNG path, taken at the end
	Viewport   *Viewport // page size; 640x360 when nil
}

// Viewport is a page size in CSS pixels.
type Viewport struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// staggered returns n viewers of url, started gap apart, each playing for d.
func staggered(url string, n int, gap, d time.Duration) []Viewer {
	vs := make([]Viewer, n)
	for i := range vs {
		vs[i] = Viewer{URL: url, StartDelay: time.Duration(i) * gap, Duration: d}
	}
	return vs
}

// Result is the output of harness/browser.mjs.
type Result struct {
	BrowserVersion string         `json:"browserVersion"`
	Viewers        []ViewerResult `json:"viewers"`
}

// ViewerResult is one viewer's outcome: Error is set when the harness could not run it.
type ViewerResult struct {
	Index      int    `json:"index"`
	URL        string `json:"url"`
	LoadedAtMs int64  `json:"loadedAtMs"`
	Error      string `json:"error"`
	Stats      Stats  `json:"stats"`
	// RawStats is the page's window.__collect() result as it came, for
	// pages other than web/player.html (the demo page).
	RawStats json.RawMessage `json:"-"`
}

// Stats mirrors window.__stats of web/player.mjs. Times (…Ms, T) are milliseconds since the page
// module started.
type Stats struct {
	P2PML string `json:"p2pml"`
	HLSJS string `json:"hlsjs"`
	Src   string `json:"src"`
	Bytes struct {
		HTTP int64 `json:"http"`
		P2P  int64 `json:"p2p"`
	} `json:"bytes"`
	// P2PByPeer is downloaded P2P bytes by remote peer id (e.g. "-PM0203-…", or a server's "-SP…").
	P2PByPeer map[string]int64 `json:"p2pByPeer"`
	Upload    struct {
		Bytes  int64            `json:"bytes"`
		ByPeer map[string]int64 `json:"byPeer"`
	} `json:"upload"`
	Segments []SegmentLoad `json:"segments"`
	Peers    struct {
		Connected []PeerEvent `json:"connected"`
		Closed    []PeerEvent `json:"closed"`
	} `json:"peers"`
	Playback Playback        `json:"playback"`
	Frags    []FragHash      `json:"frags"`
	Errors   []PageError     `json:"errors"`
	ICE      ICEReport       `json:"ice"`
	Config   json.RawMessage `json:"config"`
	// CollectedAtMs is when the stats were read (page time, like every other T).
	CollectedAtMs int64 `json:"collectedAtMs"`
}

// ICEReport lists the page's RTCPeerConnections (web/boot.js): unanswered offers stay "new".
type ICEReport struct {
	Mode                    string `json:"mode"` // "loopback" or "all"
	DroppedRemoteCandidates int    `json:"droppedRemoteCandidates"`
	Connections             []struct {
		ConnectionState string `json:"connectionState"`
		Selected        *struct {
			Local         string `json:"local"`  // "addr:port/proto type"; Chromium hides prflx addresses
			Remote        string `json:"remote"` // same
			BytesSent     int64  `json:"bytesSent"`
			BytesReceived int64  `json:"bytesReceived"`
		} `json:"selected"`
	} `json:"connections"`
}

// SelectedPairs returns "local -> remote (state)" for every connection that selected a pair.
func (r ICEReport) SelectedPairs() []string {
	var out []string
	for _, c := range r.Connections {
		if c.Selected != nil {
			out = append(out, c.Selected.Local+" -> "+c.Selected.Remote+" ("+c.ConnectionState+")")
		}
	}
	return out
}

// SegmentLoad is one P2PML onSegmentLoaded event.
type SegmentLoad struct {
	T          int64   `json:"t"`
	URL        string  `json:"url"`
	Bytes      int64   `json:"bytes"`
	Source     string  `json:"source"` // "http" or "p2p"
	PeerID     *string `json:"peerId"`
	StreamType string  `json:"streamType"`
}

// PeerEvent is one P2PML onPeerConnect/onPeerClose event.
type PeerEvent struct {
	T          int64  `json:"t"`
	PeerID     string `json:"peerId"`
	StreamType string `json:"streamType"`
}

// Playback summarises the video element and hls.js stall errors.
type Playback struct {
	FirstPlayingMs      *int64  `json:"firstPlayingMs"`
	StartTime           float64 `json:"startTime"` // currentTime at the first 'playing' (live starts late)
	Stalls              int     `json:"stalls"`    // 'waiting' events after the first 'playing'
	WaitingEvents       int     `json:"waitingEvents"`
	BufferStalledErrors int     `json:"bufferStalledErrors"`
	CurrentTime         float64 `json:"currentTime"`
	Ended               bool    `json:"ended"`
	Paused              bool    `json:"paused"`
	// Samples holds one sample a second: t ms, currentTime s, seconds buffered ahead, readyState, paused.
	Samples       [][5]float64 `json:"samples"`
	LevelSwitches []struct {
		T     int64 `json:"t"`
		Level int   `json:"level"`
	} `json:"levelSwitches"`
}

// FragHash is the SHA-256 of the payload hls.js received in FRAG_LOADED.
type FragHash struct {
	URL    string `json:"url"` // without query
	SN     int    `json:"sn"`
	Level  int    `json:"level"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// PageError is one recorded error: Kind is hls, segment, peer, tracker, trackerWarning, video, play,
// init, hash, window or unhandledrejection.
type PageError struct {
	Kind    string `json:"kind"`
	T       int64  `json:"t"`
	Type    string `json:"type"`
	Details string `json:"details"`
	Fatal   bool   `json:"fatal"`
	Message string `json:"message"`
	URL     string `json:"url"`
	PeerID  string `json:"peerId"`
}

// Played returns the seconds of media played since the first 'playing' event.
func (p Playback) Played() float64 {
	if p.FirstPlayingMs == nil {
		return 0
	}
	return p.CurrentTime - p.StartTime
}

// RealTimeFactor returns media seconds played per wall-clock second since the first 'playing'
// (1 on an idle machine; lower when the CPU is contended).
func (s Stats) RealTimeFactor() float64 {
	p := s.Playback
	if p.FirstPlayingMs == nil || s.CollectedAtMs <= *p.FirstPlayingMs {
		return 0
	}
	return p.Played() / (float64(s.CollectedAtMs-*p.FirstPlayingMs) / 1000)
}

// P2PBytesFrom returns the P2P bytes downloaded from peers whose id starts with prefix.
func (s Stats) P2PBytesFrom(prefix string) int64 {
	var n int64
	for id, b := range s.P2PByPeer {
		if strings.HasPrefix(id, prefix) {
			n += b
		}
	}
	return n
}

// P2PRatio returns the share of downloaded bytes that came over P2P (0 when nothing was downloaded).
func (s Stats) P2PRatio() float64 {
	total := s.Bytes.HTTP + s.Bytes.P2P
	if total == 0 {
		return 0
	}
	return float64(s.Bytes.P2P) / float64(total)
}

// FatalErrors returns the fatal hls.js errors and the page-level failures (init, video, window).
func (s Stats) FatalErrors() []PageError {
	var out []PageError
	for _, e := range s.Errors {
		if e.Fatal || e.Kind == "init" || e.Kind == "video" || e.Kind == "window" || e.Kind == "unhandledrejection" || e.Kind == "hash" {
			out = append(out, e)
		}
	}
	return out
}

// ConnectedPeers returns the distinct peer ids that connected, in first-seen order.
func (s Stats) ConnectedPeers() []string {
	seen := map[string]bool{}
	var ids []string
	for _, p := range s.Peers.Connected {
		if !seen[p.PeerID] {
			seen[p.PeerID] = true
			ids = append(ids, p.PeerID)
		}
	}
	return ids
}

// runBrowsers runs harness/browser.mjs with spec and returns the parsed result. It fails t when the
// harness fails or any viewer could not run; the harness log (page console errors included) is
// logged.
func runBrowsers(t testing.TB, spec BrowserSpec) Result {
	t.Helper()
	type viewerJSON struct {
		URL          string    `json:"url"`
		StartDelayMs int64     `json:"startDelayMs"`
		DurationMs   int64     `json:"durationMs"`
		Screenshot   string    `json:"screenshot,omitempty"`
		Viewport     *Viewport `json:"viewport,omitempty"`
	}
	in := struct {
		Viewers    []viewerJSON `json:"viewers"`
		ConsoleAll bool         `json:"consoleAll"`
		ExtraArgs  []string     `json:"extraArgs,omitempty"`
	}{ConsoleAll: spec.ConsoleAll, ExtraArgs: spec.ExtraArgs}
	var longest time.Duration
	for _, v := range spec.Viewers {
		in.Viewers = append(in.Viewers, viewerJSON{v.URL, v.StartDelay.Milliseconds(), v.Duration.Milliseconds(), v.Screenshot, v.Viewport})
		longest = max(longest, v.StartDelay+v.Duration)
	}
	specJSON, err := json.Marshal(in)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), longest+2*time.Minute)
	defer cancel()
	argv := []string{"node", filepath.Join(interopDir(t), "harness", "browser.mjs")}
	if spec.Netns != "" {
		// ip netns exec execs node in place, so the SIGTERM below still reaches the harness.
		argv = append([]string{"ip", "netns", "exec", spec.Netns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = interopDir(t)
	cmd.Stdin = bytes.NewReader(specJSON)
	var stdout bytes.Buffer
	logs := &syncBuffer{}
	cmd.Stdout = &stdout
	cmd.Stderr = logs
	// On timeout ask the harness to close Chromium first, then kill.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("browser harness ran %s; log:\n%s", time.Since(start).Round(time.Millisecond), logs.String())

	// Keep the raw result for debugging: test/interop/out/results/<test name>.json (gitignored).
	resultFile := filepath.Join(interopDir(t), "out", "results", strings.ReplaceAll(t.Name(), "/", "_")+".json")
	if err := os.MkdirAll(filepath.Dir(resultFile), 0o755); err == nil {
		if err := os.WriteFile(resultFile, stdout.Bytes(), 0o644); err == nil {
			t.Logf("raw result: %s", resultFile)
		}
	}

	var res Result
	var raw struct {
		Viewers []struct {
			Stats json.RawMessage `json:"stats"`
		} `json:"viewers"`
	}
	if jsonErr := json.Unmarshal(stdout.Bytes(), &raw); jsonErr != nil {
		t.Fatalf("browser harness: %v; stdout not JSON (%v): %.500s", runErr, jsonErr, stdout.String())
	}
	if jsonErr := json.Unmarshal(stdout.Bytes(), &res); jsonErr != nil && !isPageShapeError(jsonErr) {
		t.Fatalf("browser harness: %v; stdout not JSON (%v): %.500s", runErr, jsonErr, stdout.String())
	}
	for i := range res.Viewers {
		if i < len(raw.Viewers) {
			res.Viewers[i].RawStats = raw.Viewers[i].Stats
		}
	}
	for _, v := range res.Viewers {
		require.Empty(t, v.Error, "viewer %d failed", v.Index)
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		t.Fatalf("browser harness: %v", runErr)
	}
	require.NoError(t, runErr, "browser harness exit status")
	require.Len(t, res.Viewers, len(spec.Viewers))
	return res
}

// requirePlayed checks one viewer of web/player.html: no fatal error, playback started and advanced,
// and every fragment byte-identical to the origin.
func requirePlayed(t testing.TB, o *Origin, i int, s Stats) {
	t.Helper()
	require.Empty(t, s.FatalErrors(), "viewer %d fatal errors", i)
	require.NotNil(t, s.Playback.FirstPlayingMs, "viewer %d never played", i)
	// Loose on purpose: on a busy 2-core machine Chromium plays slower than real time.
	require.Greater(t, s.Playback.Played(), 5.0, "viewer %d playback did not advance", i)
	requireByteIdentity(t, o, s)
}

// requireP2PPair checks a run of two staggered viewers: both played the given P2PML version and
// connected to a peer, the later viewer got P2P bytes, all from peers whose id starts with
// peerIDPrefix (the same generation), and the earlier one uploaded.
func requireP2PPair(t testing.TB, env *Env, res Result, version, peerIDPrefix string) {
	t.Helper()
	for i, v := range res.Viewers {
		require.Equal(t, version, v.Stats.P2PML, "viewer %d", i)
		requirePlayed(t, env.Origin, i, v.Stats)
		require.NotEmpty(t, v.Stats.ConnectedPeers(), "viewer %d connected to no peer", i)
	}
	first, second := res.Viewers[0].Stats, res.Viewers[1].Stats
	require.Positive(t, second.Bytes.P2P, "second viewer got no P2P bytes")
	require.Equal(t, second.Bytes.P2P, second.P2PBytesFrom(peerIDPrefix), "P2P bytes from peers not prefixed %s: %v", peerIDPrefix, second.P2PByPeer)
	require.Positive(t, first.Upload.Bytes, "first viewer uploaded nothing")
}

// isPageShapeError reports a stats document of another page's shape (a
// field of a different type), which RawStats still carries.
func isPageShapeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// requireByteIdentity checks that every fragment hls.js received is byte-identical to the origin
// file behind its URL, and that there was at least one.
func requireByteIdentity(t testing.TB, o *Origin, s Stats) {
	t.Helper()
	require.NotEmpty(t, s.Frags, "no FRAG_LOADED recorded")
	for _, f := range s.Frags {
		want, ok := o.ExpectedSHA256(f.URL)
		require.True(t, ok, "fragment URL %s is not an origin segment", f.URL)
		require.Equal(t, want, f.SHA256, "fragment %s (sn %d, level %d, %d bytes) differs from the origin file", f.URL, f.SN, f.Level, f.Bytes)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine (exec) and a reader (the test).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
