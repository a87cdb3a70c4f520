package seeder_test

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/superpeer/superpeer/pkg/seeder"
)

// The tests in this file keep the operator documentation honest: every
// configuration example parses, every configuration key and every metric is
// documented, and docs and dashboards name only metrics that exist.

// repoRoot is the module root, seen from this package's directory.
const repoRoot = "../.."

// yamlSnippet is one YAML text found in the repository, with where it came from.
type yamlSnippet struct {
	file string // relative to the repository root
	line int    // of the snippet's first line in file
	key  string // ConfigMap data key, if extracted from one
	data []byte
	// defaults marks a fence preceded by <!-- test: defaults -->: it must
	// spell out every key and parse to DefaultConfig (streams aside).
	defaults bool
}

// where names the snippet for test names and errors.
func (s yamlSnippet) where() string {
	w := s.file + ":" + strconv.Itoa(s.line)
	if s.key != "" {
		w += ":" + s.key
	}
	return w
}

// foreignKeys mark YAML that is not a superpeer configuration: Kubernetes,
// kustomize and Grafana provisioning files (apiVersion, kind), Prometheus
// rules and scrape configs, Compose files. Any other YAML in docs/*.md
// (```yaml fences) or deploy/ must be a valid superpeer configuration.
var foreignKeys = []string{"apiVersion", "kind", "groups", "scrape_configs", "services"}

// TestDocsConfigExamples parses every superpeer configuration shown in
// docs/*.md and deploy/ with ParseConfig, including those embedded in
// Kubernetes ConfigMaps.
func TestDocsConfigExamples(t *testing.T) {
	var snippets []yamlSnippet
	mds, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, mds, "no docs/*.md found")
	for _, md := range mds {
		b, err := os.ReadFile(md)
		require.NoError(t, err)
		snippets = append(snippets, fencedBlocks(relPath(md), b, "yaml", "yml")...)
	}
	err = filepath.WalkDir(filepath.Join(repoRoot, "deploy"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "helm" {
			// Go templates and chart values: deploy/deploy_test.go renders
			// the chart and parses the superpeer configuration it makes.
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			snippets = append(snippets, yamlSnippet{file: relPath(path), line: 1, data: b})
		}
		return nil
	})
	require.NoError(t, err)

	var configs []yamlSnippet
	for _, s := range snippets {
		docs := decodeAll(t, s)
		if !slices.ContainsFunc(docs, isForeign) {
			configs = append(configs, s)
			continue
		}
		for _, doc := range docs {
			configs = append(configs, configMapConfigs(s, doc)...)
		}
	}
	var inDocs, inDeploy, defaults bool
	for _, c := range configs {
		inDocs = inDocs || c.file == "docs/config.md"
		inDeploy = inDeploy || strings.HasPrefix(c.file, "deploy/k8s/")
		defaults = defaults || c.defaults
		t.Run(c.where(), func(t *testing.T) {
			cfg, err := seeder.ParseConfig(c.data, c.where())
			require.NoError(t, err)
			if !c.defaults {
				return
			}
			want := seeder.DefaultConfig()
			want.Streams = cfg.Streams
			nilEmptySlices(reflect.ValueOf(&want).Elem())
			nilEmptySlices(reflect.ValueOf(&cfg).Elem())
			require.Equal(t, want, cfg, "the defaults example differs from DefaultConfig")
			var root yaml.Node
			require.NoError(t, yaml.Unmarshal(c.data, &root))
			written := map[string]bool{}
			yamlKeys(root.Content[0], "", written)
			for _, k := range configKeys(reflect.TypeFor[seeder.Config](), "") {
				require.Truef(t, written[k], "the defaults example does not set %s", k)
			}
		})
	}
	require.True(t, inDocs, "no configuration example found in docs/config.md")
	require.True(t, inDeploy, "no configuration found under deploy/k8s/")
	require.True(t, defaults, "docs/config.md has no <!-- test: defaults --> example")
}

// TestDocsConfigKeys checks that docs/config.md documents every key of
// seeder.Config, and documents no key that does not exist. Keys are written
// as dotted paths in backquotes, with [] for list items: `streams[].url`.
func TestDocsConfigKeys(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "config.md"))
	require.NoError(t, err)
	doc := string(b)
	keys := configKeys(reflect.TypeFor[seeder.Config](), "")
	require.Contains(t, keys, "streams[].url", "key walk is broken")
	for _, k := range keys {
		require.Truef(t, strings.Contains(doc, "`"+k+"`"), "docs/config.md does not document key %s", k)
	}
	// The first cell of a table row names a documented key.
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	documented := row.FindAllStringSubmatch(doc, -1)
	require.NotEmpty(t, documented, "docs/config.md has no key table rows")
	for _, m := range documented {
		require.Containsf(t, keys, m[1], "docs/config.md documents %s, which seeder.Config does not have", m[1])
	}
}

// configKeys lists the YAML key paths of a struct type, parents included.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		keys = append(keys, key)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			keys = append(keys, configKeys(ft.Elem(), key+"[]")...)
		} else if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[seeder.ByteSize]() {
			keys = append(keys, configKeys(ft, key)...)
		}
	}
	return keys
}

// nilEmptySlices sets every empty slice in v to nil: `key: []` and no key
// mean the same when the default is empty.
func nilEmptySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			nilEmptySlices(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for i := range v.Len() {
			nilEmptySlices(v.Index(i))
		}
	}
}

// yamlKeys records the key paths present in a YAML tree, written as
// configKeys writes them.
func yamlKeys(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			out[key] = true
			yamlKeys(n.Content[i+1], key, out)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			yamlKeys(item, prefix+"[]", out)
		}
	}
}

// metricDesc is a registered metric's name and variable labels.
type metricDesc struct {
	name   string
	labels []string
}

// descPattern reads client_golang's Desc.String(); the test fails if the
// format changes rather than checking nothing.
var descPattern = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*variableLabels: \{([^}]*)\}\}$`)

// registered returns the metrics a Seeder registers, from the registry's
// descriptors (Gather would miss vectors that have no series yet). Every
// optional part is switched on, so that its metrics are registered too;
// nothing listens or connects before Run.
func registered(t *testing.T) map[string]metricDesc {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := seeder.DefaultConfig()
	cfg.Streams = []seeder.StreamConfig{{ID: "docs", URL: "http://127.0.0.1:1/master.m3u8"}}
	cfg.TrackerServer.Listen = "127.0.0.1:0"
	_, err := seeder.New(cfg, seeder.Options{Logger: zerolog.Nop(), Registry: reg})
	require.NoError(t, err)
	return describe(t, reg)
}

func describe(t *testing.T, c prometheus.Collector) map[string]metricDesc {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	out := map[string]metricDesc{}
	for d := range ch {
		m := descPattern.FindStringSubmatch(d.String())
		require.NotNilf(t, m, "cannot read descriptor %s", d)
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		sort.Strings(labels)
		out[m[1]] = metricDesc{name: m[1], labels: labels}
	}
	return out
}

// TestDocsMetrics checks that docs/metrics.md has a section for every metric
// seeder.New registers, headed "### `name`", whose "Labels:" line lists
// exactly the metric's labels (or says "none").
func TestDocsMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "metrics.md"))
	require.NoError(t, err)
	sections := metricSections(string(b))
	descs := registered(t)
	require.NotEmpty(t, descs)
	labelsLine := regexp.MustCompile(`(?m)^Labels: (.*)$`)
	quoted := regexp.MustCompile("`([^`]+)`")
	for name, d := range descs {
		t.Run(name, func(t *testing.T) {
			sec, ok := sections[name]
			require.Truef(t, ok, "docs/metrics.md has no section ### `%s`", name)
			m := labelsLine.FindStringSubmatch(sec)
			require.NotNilf(t, m, "section %s has no Labels: line", name)
			var got []string
			for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
				got = append(got, q[1])
			}
			sort.Strings(got)
			if len(d.labels) == 0 {
				require.Equal(t, "none", strings.TrimSpace(m[1]))
				return
			}
			require.Equal(t, d.labels, got, "labels of %s", name)
		})
	}
}

// metricSections splits markdown into sections headed ### `name`.
func metricSections(doc string) map[string]string {
	head := regexp.MustCompile("(?m)^### `([a-z0-9_]+)`\\s*$")
	idx := head.FindAllStringSubmatchIndex(doc, -1)
	out := map[string]string{}
	for i, m := range idx {
		end := len(doc)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		out[doc[m[2]:m[3]]] = doc[m[1]:end]
	}
	return out
}

// processMetrics are the collectors cmd/superpeer/main.go (newRegistry)
// adds besides seeder.New's: Go runtime, process and superpeer_build_info.
// Keep in step with main.go.
func processMetrics(t *testing.T) map[string]metricDesc {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "superpeer_build_info", Help: "main.go"}),
	)
	return describe(t, reg)
}

// TestDocsMetricReferences checks that the docs, the deploy files and the
// Grafana dashboard's queries name only metrics that exist (histogram
// series by their _bucket, _sum and _count names).
func TestDocsMetricReferences(t *testing.T) {
	known := registered(t)
	for n, d := range processMetrics(t) {
		known[n] = d
	}
	exists := func(name string) bool {
		if _, ok := known[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				if _, ok := known[base]; ok {
					return true
				}
			}
		}
		return false
	}

	// Anything spelled superpeer_… in the docs and deploy files (a trailing
	// * or < marks a pattern, not a name; a : before or after marks the middle
	// of a recording rule's level:metric:operations name).
	ours := regexp.MustCompile(`:?superpeer_[a-z0-9_]*[a-z0-9]\b[*<:]?`)
	var files []string
	mds, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	require.NoError(t, err)
	files = append(files, mds...)
	err = filepath.WalkDir(filepath.Join(repoRoot, "deploy"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range ours.FindAllString(string(b), -1) {
			if strings.HasSuffix(m, "*") || strings.HasSuffix(m, "<") || strings.ContainsRune(m, ':') {
				continue
			}
			require.Truef(t, exists(m), "%s names metric %s, which is not registered", relPath(f), m)
		}
	}

	// Every metric-like name in a dashboard query.
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "superpeer.json"))
	require.NoError(t, err)
	var dash any
	require.NoError(t, json.Unmarshal(b, &dash), "superpeer.json is not JSON")
	exprs := collectStrings(dash, "expr")
	queries := collectStrings(dash, "query")
	require.NotEmpty(t, exprs, "the dashboard has no queries")
	metricName := regexp.MustCompile(`\b(?:superpeer|process|go)_[a-z0-9_]*[a-z0-9]\b`)
	for _, e := range append(exprs, queries...) {
		for _, m := range metricName.FindAllString(e, -1) {
			require.Truef(t, exists(m), "dashboard query %q names metric %s, which is not registered", e, m)
		}
	}
}

// collectStrings returns every string value stored under key anywhere in a
// decoded JSON value.
func collectStrings(v any, key string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == key {
				out = append(out, s)
				continue
			}
			if q, ok := x.(map[string]any); ok && k == key {
				// Grafana stores variable queries as {"query": "…"} too.
				out = append(out, collectStrings(q, key)...)
				continue
			}
			out = append(out, collectStrings(x, key)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, collectStrings(x, key)...)
		}
	}
	return out
}

// fencedBlocks returns the bodies of markdown code fences whose info string
// is one of langs, dedented to their fence's indentation.
func fencedBlocks(file string, md []byte, langs ...string) []yamlSnippet {
	var out []yamlSnippet
	lines := strings.Split(string(md), "\n")
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " \t")
		lang, ok := strings.CutPrefix(trimmed, "```")
		if !ok {
			continue
		}
		indent := len(lines[i]) - len(trimmed)
		start := i + 1
		j := start
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		if slices.Contains(langs, strings.TrimSpace(lang)) {
			defaults := i > 0 && strings.TrimSpace(lines[i-1]) == "<!-- test: defaults -->"
			var body bytes.Buffer
			for _, l := range lines[start:j] {
				body.WriteString(strings.TrimPrefix(l, strings.Repeat(" ", indent)))
				body.WriteByte('\n')
			}
			out = append(out, yamlSnippet{file: file, line: start + 1, data: body.Bytes(), defaults: defaults})
		}
		i = j
	}
	return out
}

// decodeAll decodes every document of a YAML stream into nodes.
func decodeAll(t *testing.T, s yamlSnippet) []*yaml.Node {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(s.data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err != nil {
			require.ErrorIsf(t, err, io.EOF, "%s: not YAML", s.where())
			return docs
		}
		if len(n.Content) > 0 {
			docs = append(docs, n.Content[0])
		}
	}
}

// isForeign reports whether a YAML document is not a superpeer configuration.
func isForeign(doc *yaml.Node) bool {
	return doc.Kind == yaml.MappingNode && slices.ContainsFunc(foreignKeys, func(k string) bool {
		return mapValue(doc, k) != nil
	})
}

// configMapConfigs extracts superpeer configurations (data keys ending in
// .yaml or .yml) from a ConfigMap document.
func configMapConfigs(s yamlSnippet, doc *yaml.Node) []yamlSnippet {
	if kind := mapValue(doc, "kind"); kind == nil || kind.Value != "ConfigMap" {
		return nil
	}
	data := mapValue(doc, "data")
	if data == nil || data.Kind != yaml.MappingNode {
		return nil
	}
	var out []yamlSnippet
	for i := 0; i+1 < len(data.Content); i += 2 {
		k, v := data.Content[i], data.Content[i+1]
		if strings.HasSuffix(k.Value, ".yaml") || strings.HasSuffix(k.Value, ".yml") {
			out = append(out, yamlSnippet{file: s.file, line: s.line + k.Line - 1, key: k.Value, data: []byte(v.Value)})
		}
	}
	return out
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func relPath(p string) string {
	r, err := filepath.Rel(repoRoot, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

// TestReadmeConfig parses the configuration the README's "Seed your stream"
// writes with a heredoc, the first one a newcomer tries.
func TestReadmeConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "cat > superpeer.yaml <<'EOF'\n")
	require.True(t, ok, "README has no superpeer.yaml heredoc")
	body, _, ok := strings.Cut(rest, "\n    EOF\n")
	require.True(t, ok, "heredoc not closed")
	var yaml strings.Builder
	for _, line := range strings.Split(body, "\n") {
		yaml.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}
	cfg, err := seeder.ParseConfig([]byte(yaml.String()), "README.md")
	require.NoError(t, err)
	require.Len(t, cfg.Streams, 1)
}

// TestDashboardChartsEveryMetric checks that deploy/grafana/superpeer.json
// has a query of every metric seeder.New registers, as test/interop's
// TestPrometheus checks against a running demo, but without one.
func TestDashboardChartsEveryMetric(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "superpeer.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	var all strings.Builder
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			all.WriteString(tg.Expr + "\n")
		}
	}
	var missing []string
	for name := range registered(t) {
		if !regexp.MustCompile(`\b` + name + `(_bucket|_sum|_count)?\b`).MatchString(all.String()) {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "the dashboard charts no query of these")
}
