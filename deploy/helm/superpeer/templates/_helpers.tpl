{{/* The chart's name, at most 63 characters. */}}
{{- define "superpeer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's object names. The StatefulSet's pods add "-N", and the
headless Service "-headless": keep room for both. */}}
{{- define "superpeer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "superpeer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "superpeer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "superpeer.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "superpeer.selectorLabels" . }}
app.kubernetes.io/component: seeder
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The placeholder that publicAddress.mode hostIP replaces with the node's address. */}}
{{- define "superpeer.nodeIPPlaceholder" -}}__NODE_IP__{{- end }}

{{/* Values that cannot work together fail the render with a reason. */}}
{{- define "superpeer.validate" -}}
{{- $mode := .Values.publicAddress.mode }}
{{- if not (has $mode (list "none" "static" "hostIP")) }}
{{- fail (printf "publicAddress.mode %q: want none, static or hostIP" $mode) }}
{{- end }}
{{- if and (eq $mode "static") (empty .Values.publicAddress.ips) }}
{{- fail "publicAddress.mode static needs publicAddress.ips" }}
{{- end }}
{{- if and (eq $mode "static") (gt (int .Values.replicaCount) 1) }}
{{- fail "publicAddress.mode static announces the same address from every pod, so it needs replicaCount 1 (and a nodeSelector for that node); use one release per node, or mode hostIP" }}
{{- end }}
{{- if and (not .Values.hostNetwork) (eq $mode "none") }}
{{- fail "hostNetwork false needs publicAddress.mode static or hostIP: the pod's own addresses are not reachable by browsers" }}
{{- end }}
{{- $s := .Values.shutdown }}
{{- $need := add (int $s.preStopSleepSeconds) (int $s.httpShutdownTimeoutSeconds) 5 }}
{{- if lt (int $s.terminationGracePeriodSeconds) (int $need) }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds %d is less than preStopSleepSeconds + httpShutdownTimeoutSeconds + 5 = %d" (int $s.terminationGracePeriodSeconds) (int $need)) }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (include "superpeer.pdbSet" (list $pdb "minAvailable")) (include "superpeer.pdbSet" (list $pdb "maxUnavailable")) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (maxUnavailable: null)" }}
{{- end }}
{{- if and (empty .Values.streams) (not .Values.tracker.enabled) }}
{{- fail "streams: list at least one stream (or enable the embedded tracker)" }}
{{- end }}
{{- end }}

{{/* The superpeer configuration file: .Values.config with the keys the
chart owns laid over it. */}}
{{- define "superpeer.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $webrtc := deepCopy (get $cfg "webrtc" | default dict) }}
{{- $_ := set $webrtc "udp_port" (int .Values.webrtc.udpPort) }}
{{- if .Values.webrtc.tcp.enabled }}
{{- $_ := set $webrtc "tcp_port" (int .Values.webrtc.tcp.port) }}
{{- end }}
{{- if eq .Values.publicAddress.mode "static" }}
{{- $_ := set $webrtc "public_ips" .Values.publicAddress.ips }}
{{- else if eq .Values.publicAddress.mode "hostIP" }}
{{- $_ := set $webrtc "public_ips" (list (include "superpeer.nodeIPPlaceholder" .)) }}
{{- end }}
{{- $_ := set $cfg "webrtc" $webrtc }}
{{- $http := deepCopy (get $cfg "http" | default dict) }}
{{- $_ := set $http "listen" (printf ":%d" (int .Values.admin.port)) }}
{{- $_ := set $http "shutdown_timeout" (printf "%ds" (int .Values.shutdown.httpShutdownTimeoutSeconds)) }}
{{- $_ := set $cfg "http" $http }}
{{- if .Values.tracker.enabled }}
{{- $ts := deepCopy (get $cfg "tracker_server" | default dict) }}
{{- $_ := set $ts "listen" (printf ":%d" (int .Values.tracker.port)) }}
{{- $_ := set $cfg "tracker_server" $ts }}
{{- end }}
{{- if .Values.replication.configKeys }}
{{- $_ := set $cfg "replicas" (dict "count" (int .Values.replicaCount) "redundancy" (int .Values.replication.redundancy)) }}
{{- end }}
{{- $_ := set $cfg "streams" (.Values.streams | default list) }}
{{- toYaml $cfg }}
{{- end }}

{{/* Whether (list map key) has the key with a value other than null. */}}
{{- define "superpeer.pdbSet" -}}
{{- $m := index . 0 }}{{ $k := index . 1 }}
{{- if and (hasKey $m $k) (not (kindIs "invalid" (get $m $k))) }}true{{ end }}
{{- end }}

{{/* Whether the pod template carries the configuration's checksum. */}}
{{- define "superpeer.rollOnConfig" -}}
{{- if or .Values.rolloutOnConfigChange (eq .Values.publicAddress.mode "hostIP") }}true{{ end }}
{{- end }}
