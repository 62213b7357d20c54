{{/*
The objects every CTP service chart renders the same way. Each takes the service chart's context:
  {{ include "ctp-common.service" . }}
*/}}

{{- define "ctp-common.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ctp-common.fullname" . }}
  labels:
    {{- include "ctp-common.labels" . | nindent 4 }}
  {{- with .Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "ctp-common.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
      appProtocol: {{ lower (include "ctp-common.scheme" .) }}
{{- end }}

{{/*
PodDisruptionBudget. At one replica (replicaCount 1, or autoscaling.minReplicas 1) minAvailable 1 would
block every node drain, so the budget then allows one eviction whatever pdb.minAvailable says.
*/}}
{{- define "ctp-common.pdb" -}}
{{- if .Values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "ctp-common.fullname" . }}
  labels:
    {{- include "ctp-common.labels" . | nindent 4 }}
spec:
  {{- if le (include "ctp-common.minReplicas" . | int) 1 }}
  maxUnavailable: 1
  {{- else if not (kindIs "invalid" .Values.pdb.minAvailable) }}
  minAvailable: {{ .Values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .Values.pdb.maxUnavailable | default 1 }}
  {{- end }}
  {{- with .Values.pdb.unhealthyPodEvictionPolicy }}
  unhealthyPodEvictionPolicy: {{ . }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "ctp-common.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{- define "ctp-common.hpa" -}}
{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "ctp-common.fullname" . }}
  labels:
    {{- include "ctp-common.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "ctp-common.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    {{- with .Values.autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with .Values.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  {{- with .Values.autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "ctp-common.serviceMonitor" -}}
{{- if .Values.serviceMonitor.enabled }}
# Scraped by the Prometheus Operator (kube-prometheus-stack selects ServiceMonitors by the release label).
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "ctp-common.fullname" . }}
  namespace: {{ .Values.serviceMonitor.namespace | default .Release.Namespace }}
  labels:
    {{- include "ctp-common.labels" . | nindent 4 }}
    release: {{ .Values.global.ctp.monitoring.release | quote }}
    {{- with .Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ .Release.Namespace }}
  selector:
    matchLabels:
      {{- include "ctp-common.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: http
      path: /metrics
      scheme: {{ .Values.serviceMonitor.scheme | default (lower (include "ctp-common.scheme" .)) }}
      interval: {{ .Values.serviceMonitor.interval }}
      scrapeTimeout: {{ .Values.serviceMonitor.scrapeTimeout }}
      honorLabels: {{ .Values.serviceMonitor.honorLabels }}
      {{- with .Values.serviceMonitor.tlsConfig }}
      tlsConfig:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      relabelings:
        # A fixed job name per service, whatever the release is called: the alert rules
        # (infra/prometheus_alerts_ctp_slos.yaml) select ctp-<service> jobs.
        - action: replace
          targetLabel: job
          replacement: ctp-{{ .Chart.Name }}
{{- end }}
{{- end }}

{{- define "ctp-common.serviceAccount" -}}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "ctp-common.serviceAccountName" . }}
  labels:
    {{- include "ctp-common.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
{{- end }}
{{- end }}

{{/*
NetworkPolicy: ingress from this release's CTP pods and networkPolicy.ingressFrom; egress to DNS, this
release's CTP pods, the backend ports (networkPolicy.egressPorts), the OTLP collector when tracing is
configured, what the service itself derives from its settings (.egress: a list of NetworkPolicyEgressRule
objects as YAML, see ctp-common.urlEgress) and networkPolicy.extraEgress.
Usage: include "ctp-common.networkPolicy" (dict "root" . "egress" (include "ledger-writer.egress" .))
*/}}
{{- define "ctp-common.networkPolicy" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- if $v.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "ctp-common.fullname" $root }}
  labels:
    {{- include "ctp-common.labels" $root | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "ctp-common.selectorLabels" $root | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    - from:
        # This release's CTP pods (e.g. introspectors fetching the issuer's JWKS, helm test pods).
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: ctp
              app.kubernetes.io/instance: {{ $root.Release.Name }}
        {{- with $v.networkPolicy.ingressFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - port: http
          protocol: TCP
  egress:
    # DNS, wherever the cluster resolver runs.
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    # This release's CTP pods.
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: ctp
              app.kubernetes.io/instance: {{ $root.Release.Name }}
    {{- with $v.networkPolicy.egressPorts }}
    # Backends (NATS, Redis, PostgreSQL), in or outside the cluster.
    - ports:
        {{- range . }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- with $v.global.ctp.tracing.otlpEndpoint }}
    # The OTLP collector (global.ctp.tracing.otlpEndpoint).
    {{- include "ctp-common.urlEgress" . | nindent 4 }}
    {{- end }}
    {{- with trim .egress }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $v.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end }}

{{/*
One egress rule admitting a URL's port (443 for https, 80 for http unless the URL names one). A
NetworkPolicy cannot name hosts: an IP literal becomes an ipBlock, a DNS name opens the port to any
destination (narrow it with extraEgress and networkPolicy.egressPorts off, or a CNI with FQDN policies).
Usage: include "ctp-common.urlEgress" "https://tsa.example.com:3180/tsr"
*/}}
{{- define "ctp-common.urlEgress" -}}
{{- $url := urlParse . -}}
{{- $hostPort := splitList ":" $url.host -}}
{{- $host := first $hostPort -}}
{{- $port := ternary (last $hostPort) (ternary "443" "80" (eq $url.scheme "https")) (gt (len $hostPort) 1) -}}
- ports:
    - port: {{ $port | int }}
      protocol: TCP
  {{- if regexMatch "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$" $host }}
  to:
    - ipBlock:
        cidr: {{ $host }}/32
  {{- end }}
{{- end }}

{{/*
helm test: a pod that calls the service's /readyz through its Service and fails unless it answers 200.
It carries the release's part-of/instance labels, which the NetworkPolicies admit.
*/}}
{{- define "ctp-common.testReadyz" -}}
{{- if .Values.tests.enabled }}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "ctp-common.fullname" . }}-test-readyz
  labels:
    {{- include "ctp-common.testLabels" . | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: readyz
      image: {{ include "ctp-common.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["node", "-e"]
      args:
        - |
          const url = process.env.TARGET_URL + '/readyz';
          fetch(url, { signal: AbortSignal.timeout(10000) }).then(async (res) => {
            console.log(`GET ${url}: ${res.status} ${await res.text()}`);
            process.exit(res.status === 200 ? 0 : 1);
          }, (error) => { console.error(`GET ${url}: ${error.cause?.message ?? error.message}`); process.exit(1); });
      env:
        - name: TARGET_URL
          value: {{ printf "%s://%s:%v" (lower (include "ctp-common.scheme" .)) (include "ctp-common.fullname" .) .Values.service.port | quote }}
        {{- if .Values.tls.existingSecret }}
        # The service's certificate may come from a private CA: the test checks readiness, not the chain.
        - name: NODE_TLS_REJECT_UNAUTHORIZED
          value: "0"
        {{- end }}
      resources:
        requests:
          cpu: 10m
          memory: 32Mi
        limits:
          memory: 128Mi
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
{{- end }}
{{- end }}

{{/* Warnings printed after install (NOTES.txt) that every service chart shares. */}}
{{- define "ctp-common.notesWarnings" -}}
{{- if .Values.global.ctp.devMode }}

WARNING: global.ctp.devMode is true. Calls without a credential act as the built-in demo partner and
shell-mangled JSON is accepted. Never run a production or shared environment like this.
{{- end }}
{{- if and .Values.pdb.enabled (le (include "ctp-common.minReplicas" . | int) 1) }}

NOTE: {{ include "ctp-common.fullname" . }} runs one replica: its PodDisruptionBudget allows the eviction
(maxUnavailable 1), so node drains interrupt it.
{{- end }}
{{- end }}

{{/* Labels of helm test pods: the release's part-of/instance (admitted by the NetworkPolicies), never a
Service's selector labels (a test pod must not become an endpoint). */}}
{{- define "ctp-common.testLabels" -}}
helm.sh/chart: {{ include "ctp-common.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: test
app.kubernetes.io/part-of: ctp
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
