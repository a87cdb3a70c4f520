//go:build container

// Package container proves the container image: it builds the repository's
// Dockerfile with podman (or docker), runs `superpeer demo` in it with the
// port published on 127.0.0.1, and checks that the process is not root,
// becomes ready, serves the demo page, its JavaScript and /metrics, and stops
// cleanly on SIGTERM within the grace period.
//
// Run: go test -tags container -v -count=1 ./test/container/
//
// Without a registry (CI) the Dockerfile's base images cannot be pulled, so by
// default the test builds stand-ins from this machine's own files
// (base-images.sh) and passes them as the NODE_IMAGE, GO_IMAGE and
// RUNTIME_IMAGE build args; everything else is the Dockerfile users build.
// SUPERPEER_CONTAINER_BASE=registry builds with the Dockerfile's defaults
// instead (node, golang, distroless, pulled when missing).
//
// Environment:
//
//	SUPERPEER_CONTAINER_ENGINE=podman|docker  the engine (default: the first that works)
//	SUPERPEER_CONTAINER_BASE=local|registry   base images (default local)
//	SUPERPEER_CONTAINER_REQUIRED=1            fail instead of skipping without an engine (CI)
package container

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	requiredEnvVar = "SUPERPEER_CONTAINER_REQUIRED"
	image          = "localhost/superpeer:container-test"
	version        = "container-test"
	// stopGrace is the stop timeout given to the engine, as the docs
	// recommend (--stop-timeout 30); a clean stop must come well within it.
	stopGrace = 30 * time.Second
)

// localBases are the stand-ins base-images.sh imports.
var localBases = map[string]string{
	"NODE_IMAGE":    "localhost/superpeer-base/node:local",
	"GO_IMAGE":      "localhost/superpeer-base/golang:local",
	"RUNTIME_IMAGE": "localhost/superpeer-base/static:nonroot",
}

// engine is a container engine command line: global flags go before the
// subcommand, limits after build and run.
type engine struct {
	name   string
	global []string
	limits []string
}

func (e engine) cmd(ctx context.Context, sub string, args ...string) *exec.Cmd {
	all := append(append([]string{}, e.global...), sub)
	if sub == "build" || sub == "run" {
		all = append(all, e.limits...)
	}
	return exec.CommandContext(ctx, e.name, append(all, args...)...)
}

// out runs a subcommand and returns its trimmed stdout, failing the test on error.
func (e engine) out(t *testing.T, sub string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	c := e.cmd(ctx, sub, args...)
	c.Stderr = &stderr
	b, err := c.Output()
	require.NoError(t, err, "%s %s %s: %s", e.name, sub, strings.Join(args, " "), stderr.String())
	return strings.TrimSpace(string(b))
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	return filepath.Clean(filepath.Join(dir, "..", ".."))
}

// skip skips the test, or fails it when SUPERPEER_CONTAINER_REQUIRED is set.
func skip(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(requiredEnvVar) != "" {
		t.Fatalf("%s, and %s is set", msg, requiredEnvVar)
	}
	t.Skipf("%s (set %s=1 to fail instead)", msg, requiredEnvVar)
}

// findEngine returns the first engine whose daemon or store answers, or skips.
func findEngine(t *testing.T) engine {
	t.Helper()
	names := []string{"podman", "docker"}
	if e := os.Getenv("SUPERPEER_CONTAINER_ENGINE"); e != "" {
		names = []string{e}
	}
	var problems []string
	for _, name := range names {
		path, err := exec.LookPath(name)
		if err != nil {
			problems = append(problems, name+" is not installed")
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		b, err := exec.CommandContext(ctx, path, "info").CombinedOutput()
		cancel()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s info failed: %v: %s", name, err, lastLines(string(b), 3)))
			continue
		}
		return engine{name: name}
	}
	skip(t, "no working container engine (%s); on Debian: apt-get install podman", strings.Join(problems, "; "))
	return engine{}
}

// runnable returns e, or e with the flags this machine needs for containers
// to start at all. A VM or sandbox may forbid what the engine's defaults
// ask for: crun refuses hybrid cgroups (v1 controllers plus a v2 mount),
// and raising RLIMIT_NOFILE above the hard limit needs CAP_SYS_RESOURCE.
// Then podman gets runc and the limits this process has (podman itself
// lowers its RLIMIT_NPROC to 32768 before starting the runtime).
func runnable(t *testing.T, e engine, probeImage string) engine {
	t.Helper()
	probe := func(e engine) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		b, err := e.cmd(ctx, "run", "--rm", "--entrypoint", "go", probeImage, "version").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, lastLines(string(b), 2))
		}
		return nil
	}
	err := probe(e)
	if err == nil {
		return e
	}
	if e.name != "podman" {
		t.Fatalf("%s cannot run a container: %v", e.name, err)
	}
	var nofile, nproc syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile))
	require.NoError(t, syscall.Getrlimit(6 /* RLIMIT_NPROC */, &nproc))
	np := min(nproc.Max, 32768)
	fallback := engine{
		name:   e.name,
		global: []string{"--runtime", "runc"},
		limits: []string{
			"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Max, nofile.Max),
			"--ulimit", fmt.Sprintf("nproc=%d:%d", np, np),
		},
	}
	if err2 := probe(fallback); err2 != nil {
		t.Fatalf("podman cannot run a container here: with its defaults: %v; with %v %v: %v",
			err, fallback.global, fallback.limits, err2)
	}
	t.Logf("podman's defaults cannot start a container here (%v); using %v %v", err, fallback.global, fallback.limits)
	return fallback
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestImage(t *testing.T) {
	e := findEngine(t)
	root := repoRoot(t)
	outDir := filepath.Join(root, "test", "container", "out")
	require.NoError(t, os.MkdirAll(outDir, 0o755))
	t.Logf("engine: %s", e.name)

	// Base images.
	buildArgs := []string{"--build-arg", "VERSION=" + version}
	goImage := "golang:1.26"
	if os.Getenv("SUPERPEER_CONTAINER_BASE") == "registry" {
		t.Log("base images: the Dockerfile's defaults, from the registry")
	} else {
		start := time.Now()
		c := exec.Command(filepath.Join(root, "test", "container", "base-images.sh"))
		c.Env = append(os.Environ(), "ENGINE="+e.name)
		b, err := c.CombinedOutput()
		require.NoError(t, err, "base-images.sh: %s", b)
		t.Logf("base images: local stand-ins (%s)\n%s", time.Since(start).Round(time.Second), strings.TrimSpace(string(b)))
		for _, arg := range []string{"NODE_IMAGE", "GO_IMAGE", "RUNTIME_IMAGE"} {
			buildArgs = append(buildArgs, "--build-arg", arg+"="+localBases[arg])
		}
		goImage = localBases["GO_IMAGE"]
	}
	e = runnable(t, e, goImage)

	// Build the repository's Dockerfile. Host networking for the build's
	// RUN steps (npm, the Go module proxy) needs no NAT or DNS set up by
	// the engine.
	start := time.Now()
	logPath := filepath.Join(outDir, "build.log")
	log, err := os.Create(logPath)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	args := append([]string{"--network", "host", "-f", filepath.Join(root, "Dockerfile"), "-t", image}, buildArgs...)
	build := e.cmd(ctx, "build", append(args, root)...)
	build.Stdout, build.Stderr = log, log
	err = build.Run()
	cancel()
	log.Close()
	if err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%s build failed: %v; last lines of %s:\n%s", e.name, err, logPath, lastLines(string(b), 40))
	}
	t.Logf("image built in %s (log: %s)", time.Since(start).Round(time.Second), logPath)

	// The image's user, as configured.
	user := e.out(t, "image", "inspect", "--format", "{{.Config.User}}", image)
	require.NotEmpty(t, user, "the image sets a user")
	require.NotContains(t, []string{"root", "0", "root:root", "0:0"}, user, "the image's user")

	// Run the demo with its port published on loopback.
	name := fmt.Sprintf("superpeer-container-test-%d", os.Getpid())
	e.out(t, "run", "-d", "--name", name, "-p", "127.0.0.1::8080", image, "demo", "-addr", "0.0.0.0:8080")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := e.cmd(context.Background(), "logs", name).CombinedOutput()
			t.Logf("container logs:\n%s", lastLines(string(b), 60))
		}
		_ = e.cmd(context.Background(), "rm", "-f", name).Run()
	})
	runStart := time.Now()
	hostPort := e.out(t, "port", name, "8080/tcp")
	hostPort = strings.Split(hostPort, "\n")[0]
	base := "http://" + strings.Replace(hostPort, "0.0.0.0", "127.0.0.1", 1)
	t.Logf("demo published on %s", base)

	// The process is not root, on the host as in the container.
	pid, err := strconv.Atoi(e.out(t, "inspect", "--format", "{{.State.Pid}}", name))
	require.NoError(t, err)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	uids := field(string(status), "Uid:")
	t.Logf("image user %q; process %d: Uid %v, CapEff %v", user, pid, uids, field(string(status), "CapEff:"))
	require.Len(t, uids, 4)
	for _, u := range uids {
		require.NotEqual(t, "0", u, "superpeer runs as root: Uid %v", uids)
	}
	if sameUserNamespace(pid) {
		require.Equal(t, []string{"65532", "65532", "65532", "65532"}, uids, "the nonroot user of the image")
	}
	require.Equal(t, []string{"0000000000000000"}, field(string(status), "CapEff:"), "no effective capabilities")

	// Ready, then the page, its JavaScript and the metrics.
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool {
		code, body := get("/readyz")
		return code == http.StatusOK && strings.TrimSpace(body) == "ready"
	}, 60*time.Second, 250*time.Millisecond, "/readyz never said ready")
	t.Logf("ready %s after start", time.Since(runStart).Round(100*time.Millisecond))

	code, page := get("/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "<html")
	code, js := get("/thirdparty/hls.mjs")
	require.Equal(t, http.StatusOK, code, "hls.js from npm is embedded (the image's demo-js stage)")
	require.Greater(t, len(js), 100_000, "hls.mjs is the real build")
	code, metrics := get("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, metrics, `superpeer_build_info{version="`+version+`"} 1`, "VERSION build arg reaches the binary")

	// SIGTERM: superpeer drains and exits 0, well within the grace period.
	start = time.Now()
	e.out(t, "stop", "-t", strconv.Itoa(int(stopGrace/time.Second)), name)
	took := time.Since(start)
	state := e.out(t, "inspect", "--format", "{{.State.ExitCode}} {{.State.Status}}", name)
	t.Logf("stopped in %s: exit code and state %q", took.Round(10*time.Millisecond), state)
	require.Equal(t, "0 exited", state, "a clean exit on SIGTERM, not a kill")
	require.Less(t, took, stopGrace/2, "the shutdown takes a fraction of the grace period")
	logs, err := e.cmd(context.Background(), "logs", name).CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(logs), "superpeer stopped", "the shutdown ran to its end")
}

// field returns the whitespace-separated values of a /proc status line.
func field(status, key string) []string {
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, key) {
			return strings.Fields(strings.TrimPrefix(line, key))
		}
	}
	return nil
}

// sameUserNamespace reports whether pid shares this process's user
// namespace, so that its UIDs are the container's (rootful engines).
func sameUserNamespace(pid int) bool {
	theirs, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	ours, err2 := os.Readlink("/proc/self/ns/user")
	return err1 == nil && err2 == nil && theirs == ours
}
