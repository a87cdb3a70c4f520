//go:build interop

package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// Debian's prometheus package (promtool comes with it).
const (
	prometheusPath = "/usr/bin/prometheus"
	promtoolPath   = "/usr/bin/promtool"
)

// Concrete values for the Grafana variables in the dashboard's queries. Grafana's
// $__rate_interval is at least 4 scrape intervals; 30 s spans 30 scrapes here.
const (
	rateInterval = "30s"
	rangeValue   = "5m"
	interval     = "5s"
)

// emptyCases are the queries that may come back empty with the healthy demo. A query or rule
// operand that names match (a metric, or a metric's matchers as the dashboard writes them) may be
// empty only while Prometheus holds no series of the selector series, and the reason says why the
// demo has none.
var emptyCases = []struct{ match, series, reason string }{
	// Labelled series that appear only when what they count first happens (docs/metrics.md).
	{"superpeer_playlist_errors_total", "superpeer_playlist_errors_total",
		"no playlist load fails against the demo's own origin"},
	{"superpeer_origin_refused_total", "superpeer_origin_refused_total",
		"the demo's origin is the stream's own, nothing is refused"},
	{"superpeer_peer_errors_total", "superpeer_peer_errors_total",
		"the browsers send nothing malformed"},
	{"superpeer_peer_disconnects_total", "superpeer_peer_disconnects_total",
		"no browser connection has ended while both viewers play"},
	{"superpeer_peer_connected_seconds", "superpeer_peer_connected_seconds_count",
		"no browser connection has ended while both viewers play"},
	{"superpeer_tracker_dropped_total", "superpeer_tracker_dropped_total",
		"superpeer's tracker client drops nothing on loopback"},
	{"superpeer_tracker_server_rejected_connections_total", "superpeer_tracker_server_rejected_connections_total",
		"no WebSocket upgrade is refused"},
	{"superpeer_tracker_server_closed_connections_total", "superpeer_tracker_server_closed_connections_total",
		"no tracker connection has ended while the browsers play"},
	// The success share of superpeer's own offers has no denominator until a browser answers one:
	// the demo's browsers reach superpeer by offering to it (direction="answer").
	{`direction="offer", result="connected"`,
		`superpeer_peer_connections_total{direction="offer", result=~"connected|timeout|failed|setup_failed"}`,
		"no browser has answered one of superpeer's offers"},
	// By design: the demo gives each browser connection its own socket; the buffer gauge is the
	// shared webrtc.udp_port socket's.
	{"superpeer_udp_port_buffer_bytes", "superpeer_udp_port_buffer_bytes",
		"the demo sets no webrtc.udp_port"},
	// By design: peers.upload_rate is 0 (unlimited) in the demo, and the query's "> 0" hides an
	// unlimited rate.
	{"superpeer_upload_limit_bytes_per_second", "superpeer_upload_limit_bytes_per_second > 0",
		"peers.upload_rate is 0 (unlimited) in the demo"},
}

// requirePrometheus skips (or, in CI, fails) the test when Debian's prometheus package is missing.
func requirePrometheus(t *testing.T) {
	t.Helper()
	var missing []string
	for _, p := range []string{prometheusPath, promtoolPath} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p+" (apt-get install prometheus)")
		}
	}
	if _, err := os.Stat(filepath.Join(repoDir(t), "pkg", "demo", "thirdparty", "hls.mjs")); err != nil {
		missing = append(missing, "pkg/demo/thirdparty (pkg/demo/gen.sh)")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv(requiredEnvVar) != "" {
		t.Fatalf("prometheus test prerequisites missing and %s is set: %v", requiredEnvVar, missing)
	}
	t.Skipf("prometheus test prerequisites missing (set %s=1 to fail instead): %v", requiredEnvVar, missing)
}

// repoDir is the module root.
func repoDir(t testing.TB) string {
	return filepath.Join(interopDir(t), "..", "..")
}

// TestPrometheus runs `superpeer demo` as a process, has Debian's Prometheus scrape it every second
// with deploy/prometheus/superpeer-rules.yaml loaded, plays the demo page in two headless Chromium
// tabs, then evaluates through Prometheus's HTTP API, at a moment when both play: every query of the
// Grafana dashboard (each must return data, or name an event-only metric that has no series yet)
// and its variables, and every rule of the rules file (each must evaluate; an alert's operands, its
// thresholds stripped, must return data with the same exception). Every rule must be loaded with
// health "ok", and no alert may fire.
func TestPrometheus(t *testing.T) {
	requireTools(t)
	requirePrometheus(t)
	tmp := t.TempDir()
	rulesFile := filepath.Join(repoDir(t), "deploy", "prometheus", "superpeer-rules.yaml")
	dashFile := filepath.Join(repoDir(t), "deploy", "grafana", "superpeer.json")

	out, err := exec.Command(promtoolPath, "check", "rules", rulesFile).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
	t.Logf("promtool check rules: %s", strings.TrimSpace(string(out)))

	// superpeer demo, built as CI builds it, so that the Go, process and build collectors are there.
	bin := filepath.Join(tmp, "superpeer")
	build := exec.Command("go", "build", "-o", bin, "./cmd/superpeer")
	build.Dir = repoDir(t)
	out, err = build.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/superpeer:\n%s", out)
	demoAddr := freeAddr(t)
	pageURL := startProcess(t, "superpeer-demo", regexp.MustCompile(`open (\S+) in a browser`),
		bin, "demo", "-addr", demoAddr, "-log-format", "json", "-log-level", "warn")
	t.Logf("demo at %s", pageURL)

	// Prometheus, scraping the demo every second and evaluating the rules every second.
	promAddr := freeAddr(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: superpeer
    static_configs:
      - targets: [%q]
`, rulesFile, demoAddr)
	cfgFile := filepath.Join(tmp, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfg), 0o644))
	startProcess(t, "prometheus", nil, prometheusPath,
		"--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(tmp, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	prom := &promAPI{base: "http://" + promAddr}
	waitFor(t, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(prom.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	waitFor(t, 30*time.Second, "demo scraped and ready", func() bool {
		r, err := prom.query(`min(superpeer_stream_ready{job="superpeer"}) == 1`, time.Time{})
		return err == nil && r.n > 0
	})

	// Load: two viewers of the demo page, the second 5 s later; superpeer serves both.
	start := time.Now()
	res := runBrowsers(t, BrowserSpec{Viewers: []Viewer{
		{URL: pageURL, Duration: 30 * time.Second},
		{URL: pageURL, StartDelay: 5 * time.Second, Duration: 30 * time.Second},
	}})
	for i, v := range res.Viewers {
		var s demoStats
		require.NoError(t, json.Unmarshal(v.RawStats, &s), "viewer %d stats", i)
		t.Logf("viewer %d: http %d B, from browsers %d B, from superpeer %d B", i, s.Bytes.HTTP, s.Bytes.Browsers, s.Bytes.Superpeer)
		require.True(t, s.Playing, "viewer %d never played", i)
	}
	// Evaluate where both viewers still played: the last scrape at which superpeer held as many
	// browser connections as it ever did. The harness returns seconds after the last tab closed,
	// and once a tab has closed the trackers' swarm sizes still count it for a while, which is
	// what SuperpeerNoPeers looks at.
	at := lastAtMax(t, prom, `sum(superpeer_peers{job="superpeer"})`, start, time.Now())
	require.Greater(t, at.Sub(start), 10*time.Second, "superpeer held the most browsers before the second viewer could connect")
	instance := demoAddr

	// allowedEmpty reports whether an empty expr is one of emptyCases, and why.
	allowedEmpty := func(expr string) (bool, []string) {
		var why []string
		for _, c := range emptyCases {
			if !strings.Contains(expr, c.match) {
				continue
			}
			r, err := prom.query("count(last_over_time(("+c.series+")["+rangeValue+":"+interval+"]))", at)
			require.NoError(t, err)
			if r.n == 0 {
				why = append(why, c.reason)
			}
		}
		return len(why) > 0, why
	}

	t.Run("dashboard", func(t *testing.T) {
		b, err := os.ReadFile(dashFile)
		require.NoError(t, err)
		var dash dashboard
		require.NoError(t, json.Unmarshal(b, &dash))

		// The variables: $instance and $stream offer the demo's instance and streams.
		vars := map[string]string{}
		for _, v := range dash.Templating.List {
			if v.Type != "query" {
				continue
			}
			query := v.queryString()
			m := regexp.MustCompile(`^label_values\((.+), *(\w+)\)$`).FindStringSubmatch(query)
			require.NotNil(t, m, "variable %s: query %q is not label_values(selector, label)", v.Name, query)
			sel := substitute(m[1], vars)
			values, err := prom.labelValues(m[2], sel, at)
			require.NoError(t, err, "variable %s", v.Name)
			t.Logf("variable $%s = %v (%s)", v.Name, values, query)
			require.NotEmpty(t, values, "variable %s: %s offers no value", v.Name, query)
			if v.Name == "instance" {
				require.Equal(t, []string{instance}, values)
			}
			// A multi-value variable with all selected, as Grafana formats it for =~.
			vars[v.Name] = "(" + strings.Join(values, "|") + ")"
		}
		require.Contains(t, vars, "instance")
		require.Contains(t, vars, "stream")

		targets := dash.targets()
		require.NotEmpty(t, targets)

		// The dashboard charts every superpeer metric the demo exports (deploy/grafana/README.md).
		names, err := prom.labelValues("__name__", `{job="superpeer", __name__=~"superpeer_.+"}`, at)
		require.NoError(t, err)
		require.NotEmpty(t, names)
		var all strings.Builder
		for _, tg := range targets {
			all.WriteString(tg.Expr + "\n")
		}
		for _, n := range names {
			base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(n, "")
			assert.Regexp(t, `\b`+base+`(_bucket)?\b`, all.String(), "the dashboard charts no query of %s", n)
		}
		var withData, empty int
		for _, tg := range targets {
			expr := substitute(tg.Expr, vars)
			r, err := prom.query(expr, at)
			require.NoError(t, err, "panel %q: %s", tg.Panel, expr)
			if r.n > 0 {
				withData++
				continue
			}
			if ok, why := allowedEmpty(expr); ok {
				empty++
				t.Logf("panel %q (legend %q): empty, as expected with the demo: %s", tg.Panel, tg.Legend, strings.Join(why, "; "))
				continue
			}
			t.Errorf("panel %q (legend %q) returns no data: %s", tg.Panel, tg.Legend, expr)
		}
		t.Logf("dashboard: %d queries, %d with data, %d empty as documented", len(targets), withData, empty)
	})

	t.Run("rules", func(t *testing.T) {
		b, err := os.ReadFile(rulesFile)
		require.NoError(t, err)
		var file struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Record string `yaml:"record"`
					Alert  string `yaml:"alert"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		require.NoError(t, yaml.Unmarshal(b, &file))

		// Loaded, with health "ok", and nothing firing in a healthy demo.
		loaded, err := prom.rules()
		require.NoError(t, err)
		count := 0
		for _, g := range file.Groups {
			for _, r := range g.Rules {
				count++
				name := r.Record + r.Alert
				got, ok := loaded[g.Name+"/"+name]
				if !assertTrue(t, ok, "rule %s/%s not loaded by Prometheus", g.Name, name) {
					continue
				}
				require.Equal(t, "ok", got.Health, "rule %s: %s", name, got.LastError)
				require.NotEqual(t, "firing", got.State, "alert %s fires in a healthy demo: %+v", name, got.Alerts)
			}
		}
		require.Len(t, loaded, count, "Prometheus has rules the file does not")

		var withData, empty int
		for _, g := range file.Groups {
			for _, r := range g.Rules {
				name := r.Record + r.Alert
				res, err := prom.query(r.Expr, at)
				require.NoError(t, err, "rule %s", name)
				operands := []string{r.Expr}
				if r.Alert != "" {
					require.Zero(t, res.n, "alert %s would fire in a healthy demo: %.1000s", name, res.raw)
					operands = alertOperands(r.Expr)
				}
				for _, op := range operands {
					res, err := prom.query(op, at)
					require.NoError(t, err, "rule %s, operand %s", name, op)
					if res.n > 0 {
						withData++
						continue
					}
					if ok, why := allowedEmpty(op); ok {
						empty++
						t.Logf("rule %s: %s is empty, as expected with the demo: %s", name, op, strings.Join(why, "; "))
						continue
					}
					t.Errorf("rule %s: %s returns no data", name, strings.TrimSpace(op))
				}
			}
		}
		t.Logf("rules: %d rules, %d expressions/operands with data, %d empty as documented", count, withData, empty)
	})
}

// lastAtMax returns the latest whole second between from and to at which expr, a
// single-series query, had its largest value; that value must be at least 2
// (both viewers connected).
func lastAtMax(t *testing.T, prom *promAPI, expr string, from, to time.Time) time.Time {
	t.Helper()
	var at time.Time
	highest := math.Inf(-1)
	for ts := to.Truncate(time.Second); ts.After(from); ts = ts.Add(-time.Second) {
		v, err := prom.value(expr, ts)
		require.NoError(t, err)
		if v > highest {
			highest, at = v, ts
		}
	}
	require.GreaterOrEqual(t, highest, 2.0, "%s never counted both viewers", expr)
	t.Logf("evaluating at %s after start: %s = %g there, its largest", at.Sub(from).Round(time.Second), expr, highest)
	return at
}

// substitute replaces the Grafana variables of a query with concrete values.
func substitute(expr string, vars map[string]string) string {
	r := []string{
		"$__rate_interval", rateInterval, "${__rate_interval}", rateInterval,
		"$__range", rangeValue, "${__range}", rangeValue,
		"$__interval", interval, "${__interval}", interval,
	}
	for k, v := range vars {
		r = append(r, "${"+k+"}", v, "$"+k, v)
	}
	return strings.NewReplacer(r...).Replace(expr)
}

// alertOperands splits an alert's expression at its top-level set operators (or, and, unless) and
// strips each part's trailing threshold comparison, leaving the values the alert compares.
func alertOperands(expr string) []string {
	var parts []string
	depth, last := 0, 0
	words := regexp.MustCompile(`^\s(or|and|unless)\s`)
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		default:
			if depth == 0 {
				if m := words.FindString(expr[i:]); m != "" {
					parts = append(parts, expr[last:i])
					last = i + len(m)
					i = last - 1
				}
			}
		}
	}
	parts = append(parts, expr[last:])
	threshold := regexp.MustCompile(`\s*(==|!=|>=|<=|>|<)\s*[0-9.]+\s*$`)
	for i, p := range parts {
		parts[i] = strings.TrimSpace(threshold.ReplaceAllString(strings.TrimSpace(p), ""))
	}
	return parts
}

func assertTrue(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Panels     []dashPanel `json:"panels"`
	Templating struct {
		List []dashVariable `json:"list"`
	} `json:"templating"`
}

type dashVariable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query any    `json:"query"` // a string, or {"query": "…"} in newer Grafana
}

func (v dashVariable) queryString() string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

type dashPanel struct {
	Title   string      `json:"title"`
	Panels  []dashPanel `json:"panels"` // collapsed rows
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
}

type dashTarget struct{ Panel, Legend, Expr string }

func (d dashboard) targets() []dashTarget {
	var out []dashTarget
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					out = append(out, dashTarget{p.Title, tg.LegendFormat, tg.Expr})
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// promAPI is a small client of Prometheus's HTTP API.
type promAPI struct{ base string }

type queryResult struct {
	n   int    // series (vector, matrix) or 1 for a scalar
	raw string // the result as Prometheus returned it, for failure messages
}

func (p *promAPI) get(path string, params url.Values, data any) error {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: %d %.300s", path, resp.StatusCode, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// query evaluates expr at t (now when zero).
func (p *promAPI) query(expr string, t time.Time) (queryResult, error) {
	params := url.Values{"query": {expr}}
	if !t.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
	}
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", params, &data); err != nil {
		return queryResult{}, fmt.Errorf("%s: %w", expr, err)
	}
	switch data.ResultType {
	case "vector", "matrix":
		var series []json.RawMessage
		if err := json.Unmarshal(data.Result, &series); err != nil {
			return queryResult{}, err
		}
		return queryResult{n: len(series), raw: string(data.Result)}, nil
	default: // scalar, string
		return queryResult{n: 1, raw: string(data.Result)}, nil
	}
}

// value evaluates expr, which must return one series, at t.
func (p *promAPI) value(expr string, t time.Time) (float64, error) {
	res, err := p.query(expr, t)
	if err != nil {
		return 0, err
	}
	var series []struct {
		Value [2]any `json:"value"`
	}
	if err := json.Unmarshal([]byte(res.raw), &series); err != nil || len(series) != 1 {
		return 0, fmt.Errorf("%s: want one series, got %.300s", expr, res.raw)
	}
	s, _ := series[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// labelValues is Grafana's label_values(selector, label) at t.
func (p *promAPI) labelValues(label, selector string, t time.Time) ([]string, error) {
	var values []string
	err := p.get("/api/v1/label/"+label+"/values", url.Values{
		"match[]": {selector},
		"start":   {strconv.FormatInt(t.Add(-5*time.Minute).Unix(), 10)},
		"end":     {strconv.FormatInt(t.Unix(), 10)},
	}, &values)
	slices.Sort(values)
	return values, err
}

type loadedRule struct {
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"`
	Alerts    []any  `json:"alerts"`
}

// rules returns the loaded rules by group/name.
func (p *promAPI) rules() (map[string]loadedRule, error) {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				loadedRule
				Name string `json:"name"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get("/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	out := map[string]loadedRule{}
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			out[g.Name+"/"+r.Name] = r.loadedRule
		}
	}
	return out, nil
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startProcess runs a command until the test ends (SIGTERM, then kill), logging its output to
// out/<name>.log. With ready set, it waits for a stdout line matching it and returns the first group.
func startProcess(t *testing.T, name string, ready *regexp.Regexp, path string, args ...string) string {
	t.Helper()
	logFile := filepath.Join(interopDir(t), "out", name+".log")
	require.NoError(t, os.MkdirAll(filepath.Dir(logFile), 0o755))
	logw, err := os.Create(logFile)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.Stderr = logw
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start(), "start %s", path)
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logw.Close()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logw, sc.Text())
			if ready != nil {
				if m := ready.FindStringSubmatch(sc.Text()); m != nil {
					select {
					case found <- m[1]:
					default:
					}
				}
			}
		}
	}()
	if ready == nil {
		return ""
	}
	select {
	case s := <-found:
		return s
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not print %q within 60 s; log in %s", name, ready, logFile)
		return ""
	}
}

// waitFor polls cond every 200 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
