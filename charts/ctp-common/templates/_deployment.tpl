{{/*
The Deployment of a CTP service. Usage, from a service chart's deployment.yaml:

  {{ include "ctp-common.deployment" (dict "root" . "env" (include "issuer.env" .) "volumes" ... "volumeMounts" ... "initContainers" ...) }}

root is the service chart's context; env, volumes, volumeMounts and initContainers are YAML lists (as
strings) of what only that service has. Everything else comes from the common values: probes (HTTPS
when the service terminates TLS itself), the TLS Secret, tracing, extraEnv/extraEnvFrom,
extraVolumes/extraVolumeMounts, sidecars, the ServiceAccount, scheduling and topology spread.
*/}}
{{- define "ctp-common.deployment" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $scheme := include "ctp-common.scheme" $root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "ctp-common.fullname" $root }}
  labels:
    {{- include "ctp-common.labels" $root | nindent 4 }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    {{- toYaml $v.strategy | nindent 4 }}
  selector:
    matchLabels:
      {{- include "ctp-common.selectorLabels" $root | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "ctp-common.labels" $root | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      automountServiceAccountToken: {{ $v.serviceAccount.automountToken }}
      {{- with include "ctp-common.serviceAccountName" $root }}
      serviceAccountName: {{ . }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $v.global.ctp.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- if or (trim .initContainers) $v.extraInitContainers }}
      initContainers:
        {{- with trim .initContainers }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraInitContainers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      containers:
        - name: {{ $root.Chart.Name }}
          image: {{ include "ctp-common.image" $root | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ $v.containerPort }}
              protocol: TCP
          env:
            {{- include "ctp-common.env" (dict "root" $root "env" .env) | nindent 12 }}
          {{- with $v.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
              scheme: {{ $scheme }}
            periodSeconds: {{ $v.probes.startup.periodSeconds }}
            failureThreshold: {{ $v.probes.startup.failureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
              scheme: {{ $scheme }}
            periodSeconds: {{ $v.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $v.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
              scheme: {{ $scheme }}
            periodSeconds: {{ $v.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $v.probes.readiness.failureThreshold }}
          {{- if gt (int $v.preStopSleepSeconds) 0 }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", "{{ $v.preStopSleepSeconds }}"]
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with trim .volumeMounts }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- if $v.tls.existingSecret }}
            - name: tls
              mountPath: /etc/ctp/tls
              readOnly: true
            {{- end }}
            {{- with $v.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
        {{- with $v.sidecars }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with trim .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- if $v.tls.existingSecret }}
        - name: tls
          secret:
            secretName: {{ $v.tls.existingSecret }}
            defaultMode: 288 # 0440: readable through fsGroup 10001
            items:
              - key: {{ $v.tls.certKey }}
                path: {{ $v.tls.certKey }}
              - key: {{ $v.tls.keyKey }}
                path: {{ $v.tls.keyKey }}
        {{- end }}
        {{- with $v.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        # The pod selector is added here; give a constraint without labelSelector.
        - labelSelector:
            matchLabels:
              {{- include "ctp-common.selectorLabels" $root | nindent 14 }}
          {{- toYaml . | nindent 10 }}
        {{- end }}
      {{- end }}
{{- end }}

{{/*
Environment of a CTP service: listen address, log level and NATS (every service), the service's own
variables (.env), its `config` values, TLS and tracing when configured, then extraEnv (which may
override any of them: Kubernetes keeps the last of two entries with one name).
*/}}
{{- define "ctp-common.env" -}}
{{- $v := .root.Values -}}
- name: CTP_HOST
  value: {{ $v.listenHost | quote }}
- name: CTP_PORT
  value: {{ $v.containerPort | quote }}
- name: LOG_LEVEL
  value: {{ $v.global.ctp.logLevel | quote }}
- name: CTP_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "global.ctp.secrets.natsUrl.name is required" $v.global.ctp.secrets.natsUrl.name }}
      key: {{ $v.global.ctp.secrets.natsUrl.key }}
- name: CTP_NATS_STREAM_REPLICAS
  value: {{ $v.global.ctp.nats.streamReplicas | quote }}
- name: CTP_NATS_STREAM_MAX_BYTES
  value: {{ $v.global.ctp.nats.streamMaxBytes | int64 | quote }}
- name: CTP_NATS_LEDGER_MAX_AGE_MS
  value: {{ $v.global.ctp.nats.ledgerMaxAgeMs | int64 | quote }}
- name: CTP_NATS_ACK_WAIT_MS
  value: {{ $v.global.ctp.nats.ackWaitMs | int64 | quote }}
{{- with trim .env }}
{{ . }}
{{- end }}
{{- range $name, $value := $v.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- if $v.tls.existingSecret }}
- name: CTP_TLS_CERT_FILE
  value: /etc/ctp/tls/{{ $v.tls.certKey }}
- name: CTP_TLS_KEY_FILE
  value: /etc/ctp/tls/{{ $v.tls.keyKey }}
{{- end }}
{{- with $v.global.ctp.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $v.global.ctp.tracing.protocol | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* CTP_REDIS_URL (a Secret) and CTP_REDIS_PREFIX: the services that keep the revocation list. */}}
{{- define "ctp-common.redisEnv" -}}
- name: CTP_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "global.ctp.secrets.redisUrl.name is required" .Values.global.ctp.secrets.redisUrl.name }}
      key: {{ .Values.global.ctp.secrets.redisUrl.key }}
- name: CTP_REDIS_PREFIX
  value: {{ .Values.global.ctp.redisPrefix | quote }}
{{- end }}

{{/* CTP_DEV_MODE and the partners file: the three partner-facing services. */}}
{{- define "ctp-common.partnerEnv" -}}
- name: CTP_DEV_MODE
  value: {{ .Values.global.ctp.devMode | quote }}
{{- if .Values.global.ctp.secrets.partners.name }}
- name: CTP_PARTNERS_FILE
  value: /etc/ctp/partners/{{ .Values.global.ctp.secrets.partners.key }}
{{- end }}
{{- end }}

{{/* CTP_ISSUER (required): the issuer signs it, the introspector requires it. */}}
{{- define "ctp-common.issuerEnv" -}}
- name: CTP_ISSUER
  value: {{ required "global.ctp.issuer (CTP_ISSUER, the iss claim) is required" .Values.global.ctp.issuer | quote }}
{{- end }}

{{/* The partners Secret as a volume and its mount (when global.ctp.secrets.partners.name is set). */}}
{{- define "ctp-common.partnersVolume" -}}
{{- if .Values.global.ctp.secrets.partners.name }}
- name: partners
  secret:
    secretName: {{ .Values.global.ctp.secrets.partners.name }}
    defaultMode: 288 # 0440: readable through fsGroup 10001
    items:
      - key: {{ .Values.global.ctp.secrets.partners.key }}
        path: {{ .Values.global.ctp.secrets.partners.key }}
{{- end }}
{{- end }}
{{- define "ctp-common.partnersMount" -}}
{{- if .Values.global.ctp.secrets.partners.name }}
- name: partners
  mountPath: /etc/ctp/partners
  readOnly: true
{{- end }}
{{- end }}

{{/* Refuses what values.schema.json cannot express and every partner-facing service shares. */}}
{{- define "ctp-common.validatePartners" -}}
{{- if and (not .Values.global.ctp.devMode) (not .Values.global.ctp.secrets.partners.name) }}
{{- fail "global.ctp.secrets.partners.name is required unless global.ctp.devMode is true" }}
{{- end }}
{{- end }}
