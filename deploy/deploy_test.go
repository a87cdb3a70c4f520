// Package deploy checks the Kubernetes deployment files: the Helm chart in
// helm/superpeer and the kustomization in k8s. Each is rendered the way
// helm and kubectl would (Helm's and kustomize's Go packages), every object
// is decoded strictly into its k8s.io/api type, so a misspelt or misplaced
// field fails here rather than on a cluster, and the superpeer configuration
// each one renders must load as `superpeer -check-config` loads it.
package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/superpeer/superpeer/pkg/seeder"
)

// objects is one rendering, decoded.
type objects struct {
	statefulSets []appsv1.StatefulSet
	services     []corev1.Service
	configMaps   []corev1.ConfigMap
	pdbs         []policyv1.PodDisruptionBudget
	monitoring   []map[string]any // monitoring.coreos.com: ServiceMonitor, PrometheusRule
}

func (o *objects) service(t *testing.T, name string) corev1.Service {
	t.Helper()
	for _, s := range o.services {
		if s.Name == name {
			return s
		}
	}
	require.Failf(t, "no such Service", "%s", name)
	return corev1.Service{}
}

func (o *objects) configMap(t *testing.T, name string) corev1.ConfigMap {
	t.Helper()
	for _, c := range o.configMaps {
		if c.Name == name {
			return c
		}
	}
	require.Failf(t, "no such ConfigMap", "%s", name)
	return corev1.ConfigMap{}
}

func (o *objects) monitoringKind(kind string) map[string]any {
	for _, m := range o.monitoring {
		if m["kind"] == kind {
			return m
		}
	}
	return nil
}

// decode splits a multi-document YAML stream and decodes each object
// strictly (unknown or duplicate fields are errors) into its API type.
func decode(t *testing.T, source, stream string) *objects {
	t.Helper()
	o := &objects{}
	for i, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(stream, -1) {
		var tm metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal([]byte(doc), &tm), "%s: document %d", source, i)
		if tm.Kind == "" && strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		where := fmt.Sprintf("%s: document %d (%s %s)", source, i, tm.APIVersion, tm.Kind)
		strict := func(into any) {
			t.Helper()
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), into), where)
		}
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 StatefulSet":
			var v appsv1.StatefulSet
			strict(&v)
			o.statefulSets = append(o.statefulSets, v)
		case "v1 Service":
			var v corev1.Service
			strict(&v)
			o.services = append(o.services, v)
		case "v1 ConfigMap":
			var v corev1.ConfigMap
			strict(&v)
			o.configMaps = append(o.configMaps, v)
		case "policy/v1 PodDisruptionBudget":
			var v policyv1.PodDisruptionBudget
			strict(&v)
			o.pdbs = append(o.pdbs, v)
		case "monitoring.coreos.com/v1 ServiceMonitor", "monitoring.coreos.com/v1 PrometheusRule":
			var v map[string]any
			strict(&v)
			o.monitoring = append(o.monitoring, v)
		default:
			require.Failf(t, "unexpected object", "%s", where)
		}
	}
	return o
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// loadConfig loads a rendered superpeer.yaml from a file, as
// `superpeer -config FILE -check-config` does.
func loadConfig(t *testing.T, data string) (seeder.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "superpeer.yaml")
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	return seeder.LoadConfig(path)
}

// binDir holds the superpeer binary that superpeerBinary builds.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// superpeerBinary builds cmd/superpeer once for checkConfigCLI.
var superpeerBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "superpeer-deploy-test")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "superpeer")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/superpeer").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/superpeer: %v\n%s", err, out)
	}
	return bin, nil
})

// checkConfigCLI runs `superpeer -check-config -config FILE` on a rendered
// configuration: what an operator runs before applying it. It needs the go
// command, so -short skips it (loadConfig has checked the same file).
func checkConfigCLI(t *testing.T, data string) {
	t.Helper()
	if testing.Short() {
		return
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Log("no go command: superpeer -check-config not run")
		return
	}
	bin, err := superpeerBinary()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "superpeer.yaml")
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	out, err := exec.Command(bin, "-check-config", "-config", path).CombinedOutput()
	require.NoError(t, err, "superpeer -check-config:\n%s", out)
	assert.Contains(t, string(out), ": ok (")
}

// ---- Helm ----

func loadChart(t *testing.T) chart.Charter {
	t.Helper()
	c, err := loader.Load("helm/superpeer")
	require.NoError(t, err)
	return c
}

// renderChart renders the chart as `helm template sp . -n media -f values`
// would; NOTES.txt is returned apart.
func renderChart(t *testing.T, c chart.Charter, values string) (stream, notes string, err error) {
	t.Helper()
	vals, err := common.ReadValues([]byte(values))
	require.NoError(t, err)
	top, err := util.ToRenderValues(c, vals, common.ReleaseOptions{Name: "sp", Namespace: "media", IsInstall: true}, nil)
	require.NoError(t, err)
	out, err := engine.Engine{Strict: true}.Render(c, top)
	if err != nil {
		return "", "", err
	}
	var names []string
	for name := range out {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			notes = out[name]
		case strings.HasSuffix(name, ".yaml"):
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, out[name])
		}
	}
	return b.String(), notes, nil
}

// chartCase is one set of values and what it must render.
type chartCase struct {
	name   string
	values string

	replicas        int32
	hostNetwork     bool
	publicIPs       []string // the announced addresses, after the init container's substitution
	checksum        bool
	tracker         bool
	tcp             bool
	minAvailable    *intstr.IntOrString
	maxUnavailable  *intstr.IntOrString
	monitoring      bool
	preStopSeconds  int64
	futureKeys      []string // configuration keys superpeer may not know yet
	configKeyChecks func(t *testing.T, cfg seeder.Config)
}

func TestChart(t *testing.T) {
	c := loadChart(t)
	one := intstr.FromInt32(1)
	two := intstr.FromInt32(2)
	cases := []chartCase{
		{
			name:           "defaults",
			values:         "",
			replicas:       2,
			hostNetwork:    true,
			maxUnavailable: &one,
			preStopSeconds: 5,
		},
		{
			// hostPort instead of hostNetwork, the node's address from the
			// downward API, the embedded tracker, monitoring, minAvailable.
			name: "hostport-hostip-tracker",
			values: `
replicaCount: 3
replication: {redundancy: 2}
hostNetwork: false
publicAddress: {mode: hostIP}
admin: {port: 9191}
webrtc: {udpPort: 40000}
tracker: {enabled: true, port: 8000}
podDisruptionBudget: {minAvailable: 2, maxUnavailable: null}
serviceMonitor: {enabled: true, labels: {release: prometheus}}
prometheusRule: {enabled: true}
shutdown: {preStopSleepSeconds: 0, httpShutdownTimeoutSeconds: 20, terminationGracePeriodSeconds: 60}
streams:
  - {id: live1, url: "https://cdn.example.com/live/1/master.m3u8"}
  - {id: vod1, url: "https://cdn.example.com/vod/1/manifest.mpd", generations: ["v3"]}
config:
  trackers: []
  origin: {timeout: 30s}
  tracker_server: {allowed_origins: ["https://www.example.com"]}
  tracker_client: {origin: "https://www.example.com"}
`,
			replicas:     3,
			publicIPs:    []string{"10.1.2.3"},
			checksum:     true,
			tracker:      true,
			minAvailable: &two,
			monitoring:   true,
			configKeyChecks: func(t *testing.T, cfg seeder.Config) {
				assert.Equal(t, 30*time.Second, cfg.Origin.Timeout)
				assert.Empty(t, cfg.Trackers)
				assert.Equal(t, []string{"https://www.example.com"}, cfg.TrackerServer.AllowedOrigins)
				assert.Len(t, cfg.Streams, 2)
			},
		},
		{
			// One pod on one node behind 1:1 NAT, rolled on every change.
			name: "single-static",
			values: `
replicaCount: 1
publicAddress: {mode: static, ips: ["203.0.113.10"]}
nodeSelector: {kubernetes.io/hostname: edge-1}
rolloutOnConfigChange: true
podDisruptionBudget: {enabled: false}
config:
  webrtc: {interfaces: [eth0], ice_servers: []}
  cache: {max_bytes: 4GiB}
resources: {requests: {cpu: "2", memory: 5Gi}, limits: {memory: 6Gi}}
`,
			replicas:       1,
			hostNetwork:    true,
			publicIPs:      []string{"203.0.113.10"},
			checksum:       true,
			preStopSeconds: 5,
			configKeyChecks: func(t *testing.T, cfg seeder.Config) {
				assert.Equal(t, []string{"eth0"}, cfg.WebRTC.Interfaces)
				assert.EqualValues(t, 4<<30, cfg.Cache.MaxBytes)
			},
		},
		{
			// Keys of features that are on their way: ICE-TCP and replica
			// assignment. Until superpeer knows them, its check rejects
			// exactly those keys.
			name: "future-keys",
			values: `
replicaCount: 4
replication: {redundancy: 3, configKeys: true}
webrtc: {tcp: {enabled: true, port: 50001}}
`,
			replicas:       4,
			hostNetwork:    true,
			tcp:            true,
			maxUnavailable: &one,
			preStopSeconds: 5,
			futureKeys:     []string{"webrtc.tcp_port", "replicas"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream, notes, err := renderChart(t, c, tc.values)
			require.NoError(t, err)
			assert.Contains(t, notes, "statefulset/sp-superpeer")
			o := decode(t, tc.name, stream)
			checkChart(t, tc, o)
		})
	}
}

func checkChart(t *testing.T, tc chartCase, o *objects) {
	require.Len(t, o.statefulSets, 1)
	require.Len(t, o.configMaps, 1)
	sts := o.statefulSets[0]
	assert.Equal(t, "sp-superpeer", sts.Name)
	require.NotNil(t, sts.Spec.Replicas)
	assert.Equal(t, tc.replicas, *sts.Spec.Replicas)

	// The configuration the pods run.
	cm := o.configMaps[0]
	raw := cm.Data["superpeer.yaml"]
	require.NotEmpty(t, raw)
	if len(tc.publicIPs) > 0 && strings.Contains(raw, "__NODE_IP__") {
		raw = strings.ReplaceAll(raw, "__NODE_IP__", tc.publicIPs[0]) // what the init container does
	}
	cfg, err := loadConfig(t, raw)
	if len(tc.futureKeys) > 0 && err != nil {
		// Every problem must be one of the expected unknown keys.
		var errs seeder.ConfigErrors
		require.ErrorAs(t, err, &errs)
		for _, e := range errs {
			msg := e.Error()
			assert.True(t, strings.Contains(msg, "unknown key") &&
				slices.ContainsFunc(tc.futureKeys, func(k string) bool { return strings.Contains(msg, " "+k+": ") }),
				"unexpected configuration error: %s", msg)
		}
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(raw), &doc))
		if slices.Contains(tc.futureKeys, "replicas") {
			assert.Equal(t, map[string]any{"count": float64(tc.replicas), "redundancy": float64(3)}, doc["replicas"])
		}
		// The rest of the file must still be valid.
		for _, k := range tc.futureKeys {
			dropKey(doc, k)
		}
		b, merr := yaml.Marshal(doc)
		require.NoError(t, merr)
		raw = string(b)
		cfg, err = loadConfig(t, raw)
	}
	require.NoError(t, err, "rendered configuration:\n%s", raw)
	checkConfigCLI(t, raw)
	if tc.configKeyChecks != nil {
		tc.configKeyChecks(t, cfg)
	}

	// The pod template against that configuration.
	pod := sts.Spec.Template.Spec
	assert.Equal(t, tc.hostNetwork, pod.HostNetwork)
	if tc.hostNetwork {
		assert.Equal(t, corev1.DNSClusterFirstWithHostNet, pod.DNSPolicy)
	}
	assert.True(t, matches(sts.Spec.Template.Labels, sts.Spec.Selector.MatchLabels), "the selector matches the pod template")
	require.Len(t, pod.Containers, 1)
	ctr := pod.Containers[0]
	ports := map[string]corev1.ContainerPort{}
	for _, p := range ctr.Ports {
		ports[p.Name] = p
	}
	assert.Equal(t, corev1.ContainerPort{Name: "webrtc-udp", ContainerPort: int32(cfg.WebRTC.UDPPort),
		HostPort: hostPort(tc.hostNetwork, cfg.WebRTC.UDPPort), Protocol: corev1.ProtocolUDP}, ports["webrtc-udp"])
	assert.Equal(t, ":"+fmt.Sprint(ports["admin"].ContainerPort), cfg.HTTP.Listen)
	assert.Equal(t, corev1.ProtocolTCP, ports["admin"].Protocol)
	if tc.tcp {
		assert.Equal(t, corev1.ProtocolTCP, ports["webrtc-tcp"].Protocol)
		assert.NotZero(t, ports["webrtc-tcp"].ContainerPort)
		assert.Equal(t, hostPort(tc.hostNetwork, int(ports["webrtc-tcp"].ContainerPort)), ports["webrtc-tcp"].HostPort)
	} else {
		assert.NotContains(t, ports, "webrtc-tcp")
	}
	if tc.tracker {
		assert.Equal(t, ":"+fmt.Sprint(ports["tracker"].ContainerPort), cfg.TrackerServer.Listen)
	} else {
		assert.NotContains(t, ports, "tracker")
		assert.Empty(t, cfg.TrackerServer.Listen)
	}
	if tc.publicIPs != nil {
		assert.Equal(t, tc.publicIPs, cfg.WebRTC.PublicIPs)
	} else {
		assert.Empty(t, cfg.WebRTC.PublicIPs)
	}
	checkProbes(t, ctr)
	checkPodSecurity(t, pod)

	// Shutdown: the grace period covers the preStop sleep, superpeer's
	// drain (http.shutdown_timeout) and its "stopped" announces (2 s).
	var preStop int64
	if ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil {
		require.NotNil(t, ctr.Lifecycle.PreStop.Sleep, "the image has no shell: preStop is a sleep action")
		preStop = ctr.Lifecycle.PreStop.Sleep.Seconds
	}
	assert.Equal(t, tc.preStopSeconds, preStop)
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	drain := time.Duration(preStop)*time.Second + cfg.HTTP.ShutdownTimeout + 2*time.Second
	assert.GreaterOrEqual(t, time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, drain)

	// Replica identity from the downward API.
	env := map[string]corev1.EnvVar{}
	for _, e := range ctr.Env {
		env[e.Name] = e
	}
	require.Contains(t, env, "POD_NAME")
	assert.Equal(t, "metadata.name", env["POD_NAME"].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, "status.hostIP", env["NODE_IP"].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, fmt.Sprint(tc.replicas), env["SUPERPEER_REPLICA_COUNT"].Value)
	assert.NotEmpty(t, env["SUPERPEER_REDUNDANCY"].Value)

	// At most one pod per node.
	require.NotNil(t, pod.Affinity)
	require.NotNil(t, pod.Affinity.PodAntiAffinity)
	anti := pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	require.Len(t, anti, 1)
	assert.Equal(t, "kubernetes.io/hostname", anti[0].TopologyKey)
	assert.Equal(t, sts.Spec.Selector.MatchLabels, anti[0].LabelSelector.MatchLabels)

	// The configuration volume, directly or through the init container.
	checkConfigVolume(t, pod, cm.Name, len(pod.InitContainers) > 0)
	if strings.Contains(cm.Data["superpeer.yaml"], "__NODE_IP__") {
		require.Len(t, pod.InitContainers, 1)
		init := pod.InitContainers[0]
		assert.Contains(t, strings.Join(init.Command, " "), "__NODE_IP__")
		assert.Equal(t, "status.hostIP", init.Env[0].ValueFrom.FieldRef.FieldPath)
	} else {
		assert.Empty(t, pod.InitContainers)
	}

	// Rollout on configuration change.
	sum := sha256.Sum256([]byte(strings.TrimSuffix(cm.Data["superpeer.yaml"], "\n")))
	if tc.checksum {
		assert.Equal(t, hex.EncodeToString(sum[:]), sts.Spec.Template.Annotations["checksum/config"])
	} else {
		assert.NotContains(t, sts.Spec.Template.Annotations, "checksum/config")
	}

	// Services.
	headless := o.service(t, sts.Spec.ServiceName)
	assert.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP)
	assert.True(t, headless.Spec.PublishNotReadyAddresses)
	assert.Equal(t, sts.Spec.Selector.MatchLabels, headless.Spec.Selector)
	admin := o.service(t, sts.Name)
	assert.Equal(t, []corev1.ServicePort{{Name: "admin", Port: ports["admin"].ContainerPort,
		TargetPort: intstr.FromString("admin"), Protocol: corev1.ProtocolTCP}}, admin.Spec.Ports)
	for _, s := range o.services {
		for _, p := range s.Spec.Ports {
			assert.Contains(t, ports, p.TargetPort.StrVal, "Service %s port %s", s.Name, p.Name)
			assert.NotEqual(t, corev1.ProtocolUDP, p.Protocol, "WebRTC never goes through a Service")
		}
	}
	if tc.tracker {
		tr := o.service(t, sts.Name+"-tracker")
		assert.Equal(t, sts.Name+"-0", tr.Spec.Selector["statefulset.kubernetes.io/pod-name"], "every browser meets on one tracker")
		assert.Len(t, o.services, 3)
	} else {
		assert.Len(t, o.services, 2)
	}

	// PodDisruptionBudget.
	if tc.minAvailable == nil && tc.maxUnavailable == nil {
		assert.Empty(t, o.pdbs)
	} else {
		require.Len(t, o.pdbs, 1)
		pdb := o.pdbs[0]
		assert.Equal(t, tc.minAvailable, pdb.Spec.MinAvailable)
		assert.Equal(t, tc.maxUnavailable, pdb.Spec.MaxUnavailable)
		assert.Equal(t, sts.Spec.Selector, pdb.Spec.Selector)
	}

	// Prometheus Operator objects.
	if !tc.monitoring {
		assert.Empty(t, o.monitoring)
		return
	}
	sm := o.monitoringKind("ServiceMonitor")
	require.NotNil(t, sm)
	var smSpec struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	}
	remarshal(t, sm["spec"], &smSpec)
	assert.True(t, matches(headless.Labels, smSpec.Selector.MatchLabels), "it scrapes the headless Service")
	assert.False(t, matches(admin.Labels, smSpec.Selector.MatchLabels), "and not the admin one: each pod once")
	require.Len(t, smSpec.Endpoints, 1)
	assert.Equal(t, "admin", smSpec.Endpoints[0].Port)
	assert.Equal(t, "/metrics", smSpec.Endpoints[0].Path)
	assert.Equal(t, "prometheus", sm["metadata"].(map[string]any)["labels"].(map[string]any)["release"])

	rule := o.monitoringKind("PrometheusRule")
	require.NotNil(t, rule)
	assert.Equal(t, docsAlerts(t), rule["spec"], "the chart's rules are those of deploy/prometheus/superpeer-rules.yaml")
}

func hostPort(hostNetwork bool, port int) int32 {
	if hostNetwork {
		return 0 // the API server defaults it to the container port
	}
	return int32(port)
}

func checkProbes(t *testing.T, ctr corev1.Container) {
	t.Helper()
	require.NotNil(t, ctr.LivenessProbe)
	require.NotNil(t, ctr.ReadinessProbe)
	require.NotNil(t, ctr.LivenessProbe.HTTPGet)
	require.NotNil(t, ctr.ReadinessProbe.HTTPGet)
	assert.Equal(t, "/healthz", ctr.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", ctr.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, intstr.FromString("admin"), ctr.LivenessProbe.HTTPGet.Port)
	assert.Equal(t, intstr.FromString("admin"), ctr.ReadinessProbe.HTTPGet.Port)
	assert.Positive(t, ctr.LivenessProbe.PeriodSeconds)
	assert.Positive(t, ctr.ReadinessProbe.PeriodSeconds)
	assert.Equal(t, []string{"-config", "/etc/superpeer/superpeer.yaml"}, ctr.Args[:2])
	assert.NotNil(t, ctr.Resources.Limits.Memory())
	assert.False(t, ctr.Resources.Limits.Memory().IsZero(), "a memory limit")
}

func checkPodSecurity(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	require.NotNil(t, pod.SecurityContext)
	assert.Equal(t, ptr(true), pod.SecurityContext.RunAsNonRoot)
	assert.Equal(t, ptr(false), pod.AutomountServiceAccountToken)
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		require.NotNil(t, c.SecurityContext, c.Name)
		assert.Equal(t, ptr(true), c.SecurityContext.ReadOnlyRootFilesystem, c.Name)
		assert.Equal(t, ptr(false), c.SecurityContext.AllowPrivilegeEscalation, c.Name)
	}
}

func checkConfigVolume(t *testing.T, pod corev1.PodSpec, configMap string, copied bool) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mount := pod.Containers[0].VolumeMounts[0]
	assert.Equal(t, "/etc/superpeer", mount.MountPath)
	v := vols[mount.Name]
	if copied {
		assert.NotNil(t, v.EmptyDir)
		var found bool
		for _, v := range vols {
			found = found || (v.ConfigMap != nil && v.ConfigMap.Name == configMap)
		}
		assert.True(t, found, "the init container reads ConfigMap %s", configMap)
		return
	}
	require.NotNil(t, v.ConfigMap, "volume %s", mount.Name)
	assert.Equal(t, configMap, v.ConfigMap.Name)
}

// TestChartLint runs `helm lint` on the chart: metadata, values and
// templates, informational findings (such as "icon is recommended") aside.
func TestChartLint(t *testing.T) {
	l := lint.RunAll("helm/superpeer", nil, "media")
	for _, m := range l.Messages {
		assert.Less(t, m.Severity, support.WarningSev, "%s", m)
	}
}

func TestChartRefuses(t *testing.T) {
	c := loadChart(t)
	for name, tc := range map[string]struct{ values, want string }{
		"static address on several pods": {"publicAddress: {mode: static, ips: [203.0.113.10]}\nreplicaCount: 2", "needs replicaCount 1"},
		"static without addresses":       {"publicAddress: {mode: static}\nreplicaCount: 1", "needs publicAddress.ips"},
		"unknown address mode":           {"publicAddress: {mode: stun}", "want none, static or hostIP"},
		"hostPort without an address":    {"hostNetwork: false", "hostNetwork false needs publicAddress.mode"},
		"grace period under the drain": {"shutdown: {preStopSleepSeconds: 10, httpShutdownTimeoutSeconds: 20, terminationGracePeriodSeconds: 30}",
			"terminationGracePeriodSeconds 30 is less than"},
		"both PDB fields": {"podDisruptionBudget: {minAvailable: 1, maxUnavailable: 1}", "not both"},
		"no streams":      {"streams: []", "at least one stream"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := renderChart(t, c, tc.values)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// docsAlerts is deploy/prometheus/superpeer-rules.yaml, the rules that
// Prometheus users load and TestPrometheus evaluates.
func docsAlerts(t *testing.T) any {
	t.Helper()
	b, err := os.ReadFile("prometheus/superpeer-rules.yaml")
	require.NoError(t, err)
	var v any
	require.NoError(t, yaml.Unmarshal(b, &v))
	return v
}

// ---- kustomize ----

func TestKustomize(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), "k8s")
	require.NoError(t, err)
	stream, err := m.AsYaml()
	require.NoError(t, err)
	o := decode(t, "kustomize build deploy/k8s", string(stream))

	require.Len(t, o.statefulSets, 1)
	require.Len(t, o.configMaps, 1)
	sts := o.statefulSets[0]
	cm := o.configMaps[0]
	assert.True(t, strings.HasPrefix(cm.Name, "superpeer-config-"), "a content hash in the name rolls the pods: %s", cm.Name)
	cfg, err := loadConfig(t, cm.Data["superpeer.yaml"])
	require.NoError(t, err)
	checkConfigCLI(t, cm.Data["superpeer.yaml"])

	pod := sts.Spec.Template.Spec
	assert.True(t, pod.HostNetwork)
	ctr := pod.Containers[0]
	ports := map[string]corev1.ContainerPort{}
	for _, p := range ctr.Ports {
		ports[p.Name] = p
	}
	assert.Equal(t, int32(cfg.WebRTC.UDPPort), ports["webrtc-udp"].ContainerPort)
	assert.Equal(t, corev1.ProtocolUDP, ports["webrtc-udp"].Protocol)
	assert.Equal(t, ":"+fmt.Sprint(ports["admin"].ContainerPort), cfg.HTTP.Listen)
	checkProbes(t, ctr)
	checkPodSecurity(t, pod)
	checkConfigVolume(t, pod, cm.Name, false)
	assert.Equal(t, "metadata.name", envFieldPath(ctr, "POD_NAME"))
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	var preStop int64
	if ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil && ctr.Lifecycle.PreStop.Sleep != nil {
		preStop = ctr.Lifecycle.PreStop.Sleep.Seconds
	}
	assert.GreaterOrEqual(t, time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second,
		time.Duration(preStop)*time.Second+cfg.HTTP.ShutdownTimeout+2*time.Second)

	headless := o.service(t, sts.Spec.ServiceName)
	assert.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP)
	assert.True(t, headless.Spec.PublishNotReadyAddresses)
	assert.True(t, matches(sts.Spec.Template.Labels, sts.Spec.Selector.MatchLabels), "the selector matches the pod template")
	for _, s := range o.services {
		assert.Equal(t, sts.Spec.Selector.MatchLabels, s.Spec.Selector, "Service %s", s.Name)
	}
	require.Len(t, o.pdbs, 1)
	assert.Equal(t, sts.Spec.Selector, o.pdbs[0].Spec.Selector)

	// servicemonitor.yaml is not in resources (it needs the CRDs): decode
	// it on its own.
	b, err := os.ReadFile("k8s/servicemonitor.yaml")
	require.NoError(t, err)
	sm := decode(t, "k8s/servicemonitor.yaml", string(b)).monitoringKind("ServiceMonitor")
	require.NotNil(t, sm)
	var smSpec struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []map[string]any     `json:"endpoints"`
	}
	remarshal(t, sm["spec"], &smSpec)
	assert.True(t, matches(headless.Labels, smSpec.Selector.MatchLabels), "it scrapes the headless Service")
}

func envFieldPath(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

// ---- helpers ----

// matches says whether labels satisfy a matchLabels selector.
func matches(labels, selector map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// dropKey deletes a dotted key ("webrtc.tcp_port") from a decoded document.
func dropKey(doc map[string]any, key string) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := doc[p].(map[string]any)
		if !ok {
			return
		}
		doc = next
	}
	delete(doc, parts[len(parts)-1])
}

func remarshal(t *testing.T, from, to any) {
	t.Helper()
	b, err := yaml.Marshal(from)
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(b, to))
}

func ptr[T any](v T) *T { return &v }
