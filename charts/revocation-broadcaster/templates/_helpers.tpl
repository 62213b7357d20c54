{{/*
Helpers of the revocation-broadcaster chart. Template names carry the chart name: Helm shares one template
namespace between the umbrella chart and all its subcharts.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "revocation-broadcaster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<name>, or fullnameOverride. Always prefixed by the release (no "contains" shortcut), so the
umbrella chart's Ingress and the introspector's default JWKS URL can name it. */}}
{{- define "revocation-broadcaster.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "revocation-broadcaster.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* chart label value */}}
{{- define "revocation-broadcaster.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods (never change them on upgrade: Deployment selectors are immutable). */}}
{{- define "revocation-broadcaster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "revocation-broadcaster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. part-of=ctp + instance lets NetworkPolicies admit the release's own pods. */}}
{{- define "revocation-broadcaster.labels" -}}
helm.sh/chart: {{ include "revocation-broadcaster.chart" . }}
{{ include "revocation-broadcaster.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: revocation-broadcaster
app.kubernetes.io/part-of: ctp
{{- end }}

{{/* <registry>/<repository>:<tag>; tag: image.tag, else global.ctp.imageTag, else appVersion. */}}
{{- define "revocation-broadcaster.image" -}}
{{- $tag := .Values.image.tag | default .Values.global.ctp.imageTag | default .Chart.AppVersion -}}
{{- if .Values.global.ctp.imageRegistry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.global.ctp.imageRegistry) .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/* Checks that values.schema.json cannot express; included by deployment.yaml. */}}
{{- define "revocation-broadcaster.validate" -}}
{{- if and (not .Values.global.ctp.devMode) (not .Values.global.ctp.secrets.partners.name) }}
{{- fail "global.ctp.secrets.partners.name is required unless global.ctp.devMode is true" }}
{{- end }}
{{- end }}

{{/* Environment: CTP_* variables from values and Secrets (README.md, Configuration). */}}
{{- define "revocation-broadcaster.env" -}}
- name: CTP_HOST
  value: {{ .Values.listenHost | quote }}
- name: CTP_PORT
  value: {{ .Values.containerPort | quote }}
- name: LOG_LEVEL
  value: {{ .Values.global.ctp.logLevel | quote }}
- name: CTP_DEV_MODE
  value: {{ .Values.global.ctp.devMode | quote }}
- name: CTP_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "global.ctp.secrets.natsUrl.name is required" .Values.global.ctp.secrets.natsUrl.name }}
      key: {{ .Values.global.ctp.secrets.natsUrl.key }}
- name: CTP_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "global.ctp.secrets.redisUrl.name is required" .Values.global.ctp.secrets.redisUrl.name }}
      key: {{ .Values.global.ctp.secrets.redisUrl.key }}
- name: CTP_REDIS_PREFIX
  value: {{ .Values.global.ctp.redisPrefix | quote }}
{{- if .Values.global.ctp.secrets.partners.name }}
- name: CTP_PARTNERS_FILE
  value: /etc/ctp/partners/{{ .Values.global.ctp.secrets.partners.key }}
{{- end }}
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
