package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// procSample is a target process's memory and CPU at one instant, read from
// outside (/proc), plus its goroutines when it exports go_goroutines.
type procSample struct {
	at         time.Time
	rssKiB     int64
	cpu        time.Duration // utime + stime
	goroutines int           // -1 when unknown
	// heapInuse and stackInuse are the Go runtime's go_memstats_*_inuse_bytes,
	// -1 when unknown: they split RSS into live heap and goroutine stacks.
	heapInuse, stackInuse int64
	// setups and setupsFast count the connections superpeer answered that
	// opened, in all and within 100 ms of taking the offer
	// (superpeer_peer_setup_seconds); -1 when the metrics could not be read,
	// 0 when the target does not export it.
	setups, setupsFast float64
	// announceLE is superpeer_peer_announce_delay_seconds, the
	// announcements of newly held segments superpeer wrote to browsers: its
	// cumulative buckets by upper bound in seconds (+Inf, the count,
	// included), summed over streams; nil before the first.
	announceLE map[float64]float64
}

func sampleProc(pid int, metricsURL string) (procSample, error) {
	s := procSample{at: time.Now(), goroutines: -1, heapInuse: -1, stackInuse: -1, setups: -1, setupsFast: -1}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status: %w", err)
	}
	if s.rssKiB, err = parseVmRSS(status); err != nil {
		return s, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat: %w", err)
	}
	if s.cpu, err = parseStatCPU(stat); err != nil {
		return s, err
	}
	if metricsURL != "" {
		if m, err := scrapeMetrics(metricsURL); err == nil {
			if v, ok := m["go_goroutines"]; ok {
				s.goroutines = int(v)
			}
			if v, ok := m["go_memstats_heap_inuse_bytes"]; ok {
				s.heapInuse = int64(v)
			}
			if v, ok := m["go_memstats_stack_inuse_bytes"]; ok {
				s.stackInuse = int64(v)
			}
			// No series before the first connection opens.
			s.setups, s.setupsFast = m[setupCount], m[setupFast]
			for k, v := range m {
				if le, ok := strings.CutPrefix(k, announceLE); ok {
					if f, err := strconv.ParseFloat(le, 64); err == nil {
						if s.announceLE == nil {
							s.announceLE = map[float64]float64{}
						}
						s.announceLE[f] = v
					}
				}
			}
		}
	}
	return s, nil
}

// watchRSS waits d (or until ctx ends), reading the process's RSS every
// second, and returns the largest it saw (0 if none could be read). It reads
// /proc only, so the sampling costs the target nothing.
func watchRSS(ctx context.Context, pid int, d time.Duration) int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var peak int64
	end := time.Now().Add(d)
	for {
		if status, err := os.ReadFile(path); err == nil {
			if kib, err := parseVmRSS(status); err == nil {
				peak = max(peak, kib)
			}
		}
		left := time.Until(end)
		if left <= 0 {
			return peak
		}
		select {
		case <-ctx.Done():
			return peak
		case <-time.After(min(left, time.Second)):
		}
	}
}

// parseVmRSS reads VmRSS (KiB) from /proc/PID/status.
func parseVmRSS(status []byte) (int64, error) {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS in status")
}

// parseStatCPU returns utime + stime from /proc/PID/stat. The command name
// is parenthesised and may hold spaces, so fields are counted after the last
// ')': state is field 3, utime 14, stime 15.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, fmt.Errorf("parse stat %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("parse stat %q", stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse stat times %q %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

var metricsClient = &http.Client{Timeout: 5 * time.Second}

// scrapedMetrics are the unlabelled runtime gauges the load generator reads.
var scrapedMetrics = []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes"}

// scrapeMetrics reads scrapedMetrics from a Prometheus text exposition.
func scrapeMetrics(url string) (map[string]float64, error) {
	resp, err := metricsClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

// Keys of parseMetrics' result for superpeer's setup histogram (direction
// "answer") and its announcement histogram's buckets, summed over streams.
const (
	setupCount = "setup_count"
	setupFast  = "setup_within_100ms"
	// announceLE followed by a bucket's le label value is that cumulative
	// bucket of superpeer_peer_announce_delay_seconds.
	announceLE = "announce_le_"
)

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if key, v, ok := setupSeries(sc.Text()); ok {
			out[key] += v
			continue
		}
		if le, v, ok := announceBucket(sc.Text()); ok {
			out[announceLE+le] += v
			continue
		}
		for _, name := range scrapedMetrics {
			if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				out[name] = f
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if _, ok := out["go_goroutines"]; !ok {
		return nil, errors.New("no go_goroutines")
	}
	return out, nil
}

// child is a process the load generator started: a target or a tracker.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	hello <-chan string // first stdout line
}

func startChild(name string, cmd *exec.Cmd) (*child, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	c.hello = lines
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// readHello decodes the child's first stdout line, a JSON object.
func (c *child) readHello(ctx context.Context, v any) error {
	select {
	case line, ok := <-c.hello:
		if !ok {
			return fmt.Errorf("%s exited before it was ready", c.name)
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			return fmt.Errorf("%s: bad hello %q: %w", c.name, line, err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s did not start within 30 s", c.name)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exited reports whether the child has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the child to exit and kills it after 10 s more. Children of this
// binary exit on stdin EOF, and write their profiles first, while the peers
// are still up; SIGTERM follows after 3 s (cmd/superpeer ignores stdin).
func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
		return
	case <-time.After(3 * time.Second):
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// raiseFDLimit sets the soft RLIMIT_NOFILE to the hard limit; children
// inherit it.
func raiseFDLimit() (soft, hard uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	return l.Cur, l.Max, nil
}

// machineSummary describes the CPU and memory for the report.
func machineSummary() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					if kib, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						mem = fmt.Sprintf(", %.1f GiB RAM", float64(kib)/(1<<20))
					}
				}
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s %s/%s", runtime.NumCPU(), model, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// announceBucket recognises a bucket of superpeer_peer_announce_delay_seconds
// and returns its le label's value and the bucket's count.
func announceBucket(line string) (string, float64, bool) {
	rest, ok := strings.CutPrefix(line, "superpeer_peer_announce_delay_seconds_bucket{")
	if !ok {
		return "", 0, false
	}
	labels, value, ok := strings.Cut(rest, "} ")
	if !ok {
		return "", 0, false
	}
	_, le, ok := strings.Cut(labels, `le="`)
	if !ok {
		return "", 0, false
	}
	le, _, _ = strings.Cut(le, `"`)
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil {
		return "", 0, false
	}
	return le, v, true
}

// quantileBound returns the smallest bucket bound (seconds) under which at
// least the fraction q of the observations between two samples of a
// cumulative histogram fell, and false when there were none.
func quantileBound(before, after map[float64]float64, q float64) (float64, bool) {
	total := after[math.Inf(1)] - before[math.Inf(1)]
	if total <= 0 {
		return 0, false
	}
	bound := math.Inf(1)
	for le, v := range after {
		if v-before[le] >= q*total && le < bound {
			bound = le
		}
	}
	return bound, true
}

// setupSeries recognises the series of superpeer_peer_setup_seconds that
// parseMetrics sums: direction "answer", its count and its 100 ms bucket.
func setupSeries(line string) (string, float64, bool) {
	name, rest, ok := strings.Cut(line, "{")
	if !ok || !strings.HasPrefix(name, "superpeer_peer_setup_seconds_") {
		return "", 0, false
	}
	labels, value, ok := strings.Cut(rest, "} ")
	if !ok || !strings.Contains(labels, `direction="answer"`) {
		return "", 0, false
	}
	var key string
	switch {
	case name == "superpeer_peer_setup_seconds_count":
		key = setupCount
	case name == "superpeer_peer_setup_seconds_bucket" && strings.Contains(labels, `le="0.1"`):
		key = setupFast
	default:
		return "", 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil {
		return "", 0, false
	}
	return key, v, true
}
