package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed bt-server.mjs
var btServerScript []byte

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// trackerProc is a tracker running as a child process.
type trackerProc struct {
	name  string
	url   string
	pid   int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	hello <-chan string // first stdout line
	tmp   string        // file to remove
}

// procSample is a tracker process's memory and CPU at one instant.
type procSample struct {
	at     time.Time
	rssKiB int64
	cpu    time.Duration // utime + stime
}

func sampleProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				s.rssKiB, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat: %w", err)
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("parse stat %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("parse stat %q", stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("parse stat times %q %q", f[11], f[12])
	}
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	return s, nil
}

// startGoTracker runs this binary with -serve.
func startGoTracker(ctx context.Context, self string, interval time.Duration, extra []string) (*trackerProc, error) {
	cmd := exec.Command(self, append([]string{"-serve", "127.0.0.1:0", "-interval", interval.String()}, extra...)...)
	tp, err := startProc("go (pkg/trackerserver.Server)", cmd)
	if err != nil {
		return nil, err
	}
	var hello struct {
		Addr string `json:"addr"`
		PID  int    `json:"pid"`
	}
	if err := tp.readHello(ctx, &hello); err != nil {
		tp.stop()
		return nil, err
	}
	tp.url, tp.pid = "ws://"+hello.Addr, hello.PID
	return tp, nil
}

// startNodeTracker runs bt-server.mjs (npm bittorrent-tracker) under node.
func startNodeTracker(ctx context.Context, node, modules string) (*trackerProc, error) {
	if _, err := os.Stat(modules + "/bittorrent-tracker/server.js"); err != nil {
		return nil, fmt.Errorf("npm bittorrent-tracker not found in %s (cd test/interop && npm install --ignore-scripts): %w", modules, err)
	}
	f, err := os.CreateTemp("", "trackerbench-bt-server-*.mjs")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(btServerScript); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	cmd := exec.Command(node, f.Name(), modules)
	tp, err := startProc("node (npm bittorrent-tracker 11)", cmd)
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, err
	}
	tp.tmp = f.Name()
	var hello struct {
		Port int `json:"port"`
		PID  int `json:"pid"`
	}
	if err := tp.readHello(ctx, &hello); err != nil {
		tp.stop()
		return nil, err
	}
	tp.url, tp.pid = fmt.Sprintf("ws://127.0.0.1:%d", hello.Port), hello.PID
	if v, err := exec.Command(node, "--version").Output(); err == nil {
		tp.name = "node " + strings.TrimSpace(string(v)) + " (npm bittorrent-tracker 11)"
	}
	return tp, nil
}

func startProc(name string, cmd *exec.Cmd) (*trackerProc, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	tp := &trackerProc{name: name, cmd: cmd, stdin: stdin, done: make(chan struct{})}
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
		close(tp.done)
	}()
	tp.hello = lines
	return tp, nil
}

func (tp *trackerProc) readHello(ctx context.Context, v any) error {
	select {
	case line, ok := <-tp.hello:
		if !ok {
			return fmt.Errorf("%s exited before listening", tp.name)
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			return fmt.Errorf("%s: bad hello %q: %w", tp.name, line, err)
		}
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s did not start within 15 s", tp.name)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop asks the tracker to exit (stdin EOF, SIGTERM) and kills it after 5 s.
func (tp *trackerProc) stop() {
	_ = tp.stdin.Close()
	_ = tp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-tp.done:
	case <-time.After(5 * time.Second):
		_ = tp.cmd.Process.Kill()
		<-tp.done
	}
	if tp.tmp != "" {
		_ = os.Remove(tp.tmp)
	}
}

// raiseFDLimit sets the soft RLIMIT_NOFILE to the hard limit; child trackers
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
