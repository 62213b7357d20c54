{{/*
Helpers of the introspector chart. Template names carry the chart name: Helm shares one template
namespace between the umbrella chart and all its subcharts.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "introspector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<name>, or fullnameOverride. Always prefixed by the release (no "contains" shortcut), so the
umbrella chart's Ingress and the introspector's default JWKS URL can name it. */}}
{{- define "introspector.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "introspector.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* chart label value */}}
{{- define "introspector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods (never change them on upgrade: Deployment selectors are immutable). */}}
{{- define "introspector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "introspector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. part-of=ctp + instance lets NetworkPolicies admit the release's own pods. */}}
{{- define "introspector.labels" -}}
helm.sh/chart: {{ include "introspector.chart" . }}
{{ include "introspector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: introspector
app.kubernetes.io/part-of: ctp
{{- end }}

{{/* <registry>/<repository>:<tag>; tag: image.tag, else global.ctp.imageTag, else appVersion. */}}
{{- define "introspector.image" -}}
{{- $tag := .Values.image.tag | default .Values.global.ctp.imageTag | default .Chart.AppVersion -}}
{{- if .Values.global.ctp.imageRegistry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.global.ctp.imageRegistry) .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/* Checks that values.schema.json cannot express; included by deployment.yaml. */}}
{{- define "introspector.validate" -}}
{{- if and (not .Values.global.ctp.devMode) (not .Values.global.ctp.secrets.partners.name) }}
{{- fail "global.ctp.secrets.partners.name is required unless global.ctp.devMode is true" }}
{{- end }}
{{- end }}

{{/* Environment: CTP_* variables from values and Secrets (README.md, Configuration). */}}
{{- define "introspector.env" -}}
- name: CTP_HOST
  value: {{ .Values.listenHost | quote }}
- name: CTP_PORT
  value: {{ .Values.containerPort | quote }}
- name: LOG_LEVEL
  value: {{ .Values.global.ctp.logLevel | quote }}
- name: CTP_DEV_MODE
  value: {{ .Values.global.ctp.devMode | quote }}
- name: CTP_ISSUER
  value: {{ required "global.ctp.issuer (CTP_ISSUER, the iss claim) is required" .Values.global.ctp.issuer | quote }}
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
- name: CTP_JWKS_URL
  value: {{ .Values.jwksUrl | default (printf "http://%s-issuer:8001/.well-known/jwks.json" .Release.Name) | quote }}
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
