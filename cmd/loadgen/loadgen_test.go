package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

// TestWatchRSSKeepsThePeak watches a child process that maps 64 MiB for
// part of the window and unmaps it before the window ends: the peak must
// count it, and the end must not. A child, so that nothing else this test
// binary runs (or the race detector's shadow memory) moves the RSS read.
func TestWatchRSSKeepsThePeak(t *testing.T) {
	if os.Getenv("LOADGEN_RSS_CHILD") == "1" {
		rssChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchRSSKeepsThePeak$")
	cmd.Env = append(os.Environ(), "LOADGEN_RSS_CHILD=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "base\n", line)

	rss := func() int64 {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		require.NoError(t, err)
		kib, err := parseVmRSS(status)
		require.NoError(t, err)
		return kib
	}
	before := rss()
	peak := watchRSS(context.Background(), cmd.Process.Pid, 3500*time.Millisecond)
	end := rss()
	require.GreaterOrEqual(t, peak-before, int64(48<<10), "peak %d KiB, before %d KiB", peak, before)
	require.Less(t, end, peak-(32<<10), "the 64 MiB were unmapped: the end is below the peak (%d KiB)", peak)
}

// rssChild says "base", then 0.5 s later maps 64 MiB (populated by the
// kernel, so no Go code touches it), holds it for 1.5 s, unmaps it, and
// waits for stdin to close.
func rssChild() {
	fmt.Println("base")
	time.Sleep(500 * time.Millisecond)
	b, err := syscall.Mmap(-1, 0, 64<<20, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_POPULATE)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	time.Sleep(1500 * time.Millisecond) // over at least one sample
	_ = syscall.Munmap(b)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

func TestParseProc(t *testing.T) {
	status := "Name:\tsuperpeer\nVmPeak:\t  900 kB\nVmRSS:\t   123456 kB\nThreads:\t9\n"
	rss, err := parseVmRSS([]byte(status))
	require.NoError(t, err)
	require.Equal(t, int64(123456), rss)
	_, err = parseVmRSS([]byte("Name:\tx\n"))
	require.Error(t, err)

	// The command name may hold spaces and parentheses; utime 250 and stime
	// 50 ticks are fields 14 and 15.
	stat := "4242 (super (peer) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0"
	cpu, err := parseStatCPU([]byte(stat))
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, cpu)
	_, err = parseStatCPU([]byte("4242 (x) S 1"))
	require.Error(t, err)

	m, err := parseMetrics(strings.NewReader("# HELP go_goroutines n\n# TYPE go_goroutines gauge\ngo_goroutines 2417\n" +
		"go_memstats_stack_inuse_bytes 1.6384e+07\ngo_threads 9\ngo_memstats_heap_inuse_bytes{x=\"y\"} 1\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]float64{"go_goroutines": 2417, "go_memstats_stack_inuse_bytes": 16384000}, m)
	_, err = parseMetrics(strings.NewReader("go_threads 9\n"))
	require.Error(t, err)
}

// TestParseSetupHistogram reads superpeer's setup and announcement
// histograms as client_golang writes them: the answered connections of
// every stream are summed, those within 100 ms counted apart, and the offer
// direction left out; announcements likewise, over every stream.
func TestParseSetupHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := promauto.With(reg).NewHistogramVec(prometheus.HistogramOpts{
		Name: "superpeer_peer_setup_seconds", Help: "setup",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"stream", "direction"})
	promauto.With(reg).NewGauge(prometheus.GaugeOpts{Name: "go_goroutines", Help: "n"}).Set(7)
	for _, v := range []float64{0.004, 0.1, 0.2} {
		h.WithLabelValues("a", "answer").Observe(v)
	}
	h.WithLabelValues("b", "answer").Observe(0.03)
	h.WithLabelValues("b", "answer").Observe(3)
	h.WithLabelValues("a", "offer").Observe(0.02)
	a := promauto.With(reg).NewHistogramVec(prometheus.HistogramOpts{
		Name: "superpeer_peer_announce_delay_seconds", Help: "announce",
		Buckets: []float64{.005, .01, .025, .05, .075, .1, .25, .5, 1, 2.5, 5},
	}, []string{"stream"})
	for _, v := range []float64{0.003, 0.08, 0.1, 0.11, 2} {
		a.WithLabelValues("a").Observe(v)
	}
	a.WithLabelValues("b").Observe(0.06)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	m, err := scrapeMetrics(srv.URL)
	require.NoError(t, err)
	require.Equal(t, 5.0, m[setupCount])
	require.Equal(t, 3.0, m[setupFast], "0.004, 0.03 and 0.1 are within 100 ms")
	require.Equal(t, 4.0, m[announceLE+"0.1"], "0.003, 0.06, 0.08 and 0.1 are within 100 ms")
	require.Equal(t, 1.0, m[announceLE+"0.005"])
	require.Equal(t, 5.0, m[announceLE+"0.25"])
	require.Equal(t, 6.0, m[announceLE+"+Inf"])

	// Between two samples: of the 4 new observations (0.02, 0.03, 0.03,
	// 0.3 s), half are within the 50 ms bucket, 99 % only within 500 ms.
	before := map[float64]float64{0.025: 1, 0.05: 3, 0.5: 6, math.Inf(1): 6}
	after := map[float64]float64{0.025: 2, 0.05: 6, 0.5: 10, math.Inf(1): 10}
	b, ok := quantileBound(before, after, 0.5)
	require.True(t, ok)
	require.Equal(t, 0.05, b)
	b, ok = quantileBound(before, after, 0.99)
	require.True(t, ok)
	require.Equal(t, 0.5, b)
	_, ok = quantileBound(after, after, 0.5)
	require.False(t, ok, "no observations between the samples")
}

func TestOriginContent(t *testing.T) {
	spec := mediaSpec{variants: 2, segments: 3, segSize: 4096, duration: 4}
	require.NoError(t, spec.validate())
	o, err := newOrigin(spec)
	require.NoError(t, err)
	defer o.close()

	// Deterministic, and distinct per variant and segment.
	require.Equal(t, segmentData(1, 2, 4096), segmentData(1, 2, 4096))
	require.NotEqual(t, segmentData(0, 2, 4096), segmentData(1, 2, 4096))
	require.NotEqual(t, segmentData(1, 1, 4096), segmentData(1, 2, 4096))

	get := func(path string) []byte {
		resp, err := http.Get(o.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return b
	}
	master := get("/vod/master.m3u8")
	require.Contains(t, string(master), "v1/index.m3u8")
	media := string(get("/vod/v1/index.m3u8"))
	require.Contains(t, media, "s2.ts")
	require.Contains(t, media, "#EXT-X-ENDLIST")
	require.False(t, o.complete())
	for v := range 2 {
		for s := range 3 {
			b := get("/vod/v" + string(rune('0'+v)) + "/s" + string(rune('0'+s)) + ".ts")
			require.Equal(t, o.hashes[v][s], sha256.Sum256(b))
		}
	}
	require.True(t, o.complete())
	require.Equal(t, spec.uniqueBytes(), o.segBytes.Load())

	resp, err := http.Get(o.url + "/vod/v2/s0.ts")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Every (variant, generation) is its own swarm.
	swarms, err := streamSwarms(o.masterURL(), master, []wire.Generation{wire.Gen22, wire.Gen23})
	require.NoError(t, err)
	require.Len(t, swarms, 4)
	seen := map[string]bool{}
	for _, s := range swarms {
		require.Len(t, s.infoHash, 20)
		seen[s.infoHash] = true
	}
	require.Len(t, seen, 4)
}

// TestLiveOrigin checks the live stream: playlists without an end that
// gain a segment per publish, segments served only once published, and the
// time each was first sent whole.
func TestLiveOrigin(t *testing.T) {
	spec := mediaSpec{variants: 1, segments: 2, segSize: 4096, duration: 4, live: 2}
	require.NoError(t, spec.validate())
	require.Error(t, mediaSpec{variants: 1, segments: 250, segSize: 4096, live: 6}.validate())
	o, err := newOrigin(spec)
	require.NoError(t, err)
	defer o.close()
	get := func(path string) (int, []byte) {
		resp, err := http.Get(o.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}

	_, media := get("/vod/v0/index.m3u8")
	require.NotContains(t, string(media), "#EXT-X-ENDLIST")
	require.NotContains(t, string(media), "PLAYLIST-TYPE")
	require.Equal(t, 2, strings.Count(string(media), "#EXTINF"))
	code, _ := get("/vod/v0/s2.ts")
	require.Equal(t, http.StatusNotFound, code, "not published yet")
	for s := range 2 {
		get("/vod/v0/s" + strconv.Itoa(s) + ".ts")
	}
	require.True(t, o.complete())

	require.Equal(t, 2, o.publish())
	require.False(t, o.complete(), "the new segment is not fetched yet")
	_, media = get("/vod/v0/index.m3u8")
	require.Contains(t, string(media), "s2.ts")
	before := time.Now()
	code, b := get("/vod/v0/s2.ts")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, o.hashes[0][2], sha256.Sum256(b))
	at, ok := o.fetchedAt(0, 2)
	require.True(t, ok)
	require.False(t, at.Before(before))
	require.True(t, o.complete())

	require.Equal(t, 3, o.publish())
	require.Equal(t, -1, o.publish(), "all published")
	o.reset()
	_, media = get("/vod/v0/index.m3u8")
	require.Equal(t, 2, strings.Count(string(media), "#EXTINF"), "a new target starts from the first segments")
}

func TestSuperpeerConfigParses(t *testing.T) {
	o := targetOptions{trackerKind: "embedded", interval: time.Minute, maxPeers: 3000, cacheBytes: 120 << 20,
		udpPort: 7882, originURL: "http://127.0.0.1:1/vod/master.m3u8"}
	y := superpeerConfig(o, "ws://127.0.0.1:2", "127.0.0.1:2", 3)
	require.Contains(t, y, "max_pending_offers: 0")
	require.Contains(t, y, "udp_port: 7882")
	// The generated file must be one superpeer accepts.
	cfg, err := parseSuperpeerConfig([]byte(y))
	require.NoError(t, err)
	require.Equal(t, 4000, cfg.Peers.Max)
	require.Empty(t, cfg.Trackers, "superpeer joins its embedded tracker by itself")
	o.trackerKind = "go"
	cfg, err = parseSuperpeerConfig([]byte(superpeerConfig(o, "ws://127.0.0.1:4", "", 3)))
	require.NoError(t, err)
	require.Equal(t, []string{"ws://127.0.0.1:4"}, cfg.Trackers)
}

func TestPaceNext(t *testing.T) {
	t0 := time.Unix(1000, 0)
	every := 5 * time.Second
	// Early: wait until due, the next one is every after due.
	if wait, next := paceNext(t0, t0.Add(2*time.Second), every); wait != 2*time.Second || !next.Equal(t0.Add(7*time.Second)) {
		t.Errorf("early: wait %v next %v, want 2s and t0+7s", wait, next.Sub(t0))
	}
	// Late (the previous request took longer than every): go at once, and
	// the schedule restarts from now instead of bursting to catch up.
	if wait, next := paceNext(t0, t0.Add(-3*time.Second), every); wait != 0 || !next.Equal(t0.Add(every)) {
		t.Errorf("late: wait %v next %v, want 0 and t0+5s", wait, next.Sub(t0))
	}
	// Exactly due: no wait.
	if wait, next := paceNext(t0, t0, every); wait != 0 || !next.Equal(t0.Add(every)) {
		t.Errorf("due: wait %v next %v, want 0 and t0+5s", wait, next.Sub(t0))
	}
}

// TestLossyConn sends datagrams to a lossyConn over loopback, one at a time
// so that the kernel drops none, and checks that about the configured
// fraction is dropped and that the rest arrive intact from the sender.
func TestLossyConn(t *testing.T) {
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer recv.Close()
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer send.Close()
	lc := &lossyConn{UDPConn: recv, loss: 0.25, rng: rand.New(rand.NewPCG(1, 2))}

	const total = 1000
	got := 0
	buf := make([]byte, 64)
	next := 0 // first datagram not yet known to be received or dropped
	for i := range total {
		_, err := send.WriteToUDP([]byte(strconv.Itoa(i)), recv.LocalAddr().(*net.UDPAddr))
		require.NoError(t, err)
		// Read what has arrived; a dropped datagram leaves the read
		// waiting for the next one, so the deadline only ends the wait.
		require.NoError(t, recv.SetReadDeadline(time.Now().Add(5*time.Millisecond)))
		n, from, err := lc.ReadFrom(buf)
		if err != nil {
			continue
		}
		require.Equal(t, send.LocalAddr().String(), from.String())
		seq, err := strconv.Atoi(string(buf[:n]))
		require.NoError(t, err)
		require.GreaterOrEqual(t, seq, next, "datagrams arrive in order, each once")
		next = seq + 1
		got++
	}
	// 750 expected; the binomial standard deviation is about 14.
	require.InDelta(t, total*0.75, got, 70, "received %d of %d at 25%% loss", got, total)
}

// TestBrowserNoSocketPerConnection: a simulated browser on a muxed socket
// opens no descriptor of its own while it offers and gathers (pion's
// default mDNS would open multicast sockets for each), so thousands of
// browsers fit in the generator's descriptor limit.
func TestBrowserNoSocketPerConnection(t *testing.T) {
	apis, closers, err := browserAPIs(1, 0, 0)
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, c := range closers {
			_ = c.Close()
		}
	})
	openFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(ents)
	}
	before := openFDs()
	var pcs []*webrtc.PeerConnection
	for range 5 {
		pc, err := apis[0].NewPeerConnection(webrtc.Configuration{})
		require.NoError(t, err)
		pcs = append(pcs, pc)
		_, err = pc.CreateDataChannel("x", nil)
		require.NoError(t, err)
		offer, err := pc.CreateOffer(nil)
		require.NoError(t, err)
		gathered := webrtc.GatheringCompletePromise(pc)
		require.NoError(t, pc.SetLocalDescription(offer))
		select {
		case <-gathered:
		case <-time.After(5 * time.Second):
			t.Fatal("gathering did not complete")
		}
		require.Contains(t, pc.LocalDescription().SDP, "127.0.0.1", "a loopback host candidate")
	}
	require.Equal(t, before, openFDs(), "descriptors opened by 5 gathered connections")
	for _, pc := range pcs {
		require.NoError(t, pc.Close())
	}
}

// TestDelayConn sends datagrams to a delayConn over loopback and checks
// that each is handed on intact, in order, from its sender, and no sooner
// than the delay after it was sent; and that closing the socket ends a
// read waiting on it.
func TestDelayConn(t *testing.T) {
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer send.Close()
	const delay = 40 * time.Millisecond
	dc := newDelayConn(recv, udpReader{recv}, delay)

	const total = 50
	sent := make([]time.Time, total)
	for i := range total {
		sent[i] = time.Now()
		_, err := send.WriteToUDP([]byte(strconv.Itoa(i)), recv.LocalAddr().(*net.UDPAddr))
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 64)
	for i := range total {
		n, from, err := dc.ReadFrom(buf)
		require.NoError(t, err)
		got := time.Now()
		require.Equal(t, send.LocalAddr().String(), from.String())
		require.Equal(t, strconv.Itoa(i), string(buf[:n]), "datagrams arrive in order, each once")
		require.GreaterOrEqual(t, got.Sub(sent[i]), delay, "datagram %d was held", i)
	}
	require.Zero(t, dc.dropped.Load())

	readErr := make(chan error, 1)
	go func() {
		_, _, err := dc.ReadFromAddrPort(buf)
		readErr <- err
	}()
	require.NoError(t, dc.Close())
	select {
	case err := <-readErr:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("a read outlived the socket's close")
	}
}
