{{/*
Helpers of the issuer chart. Template names carry the chart name: Helm shares one template
namespace between the umbrella chart and all its subcharts.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "issuer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<name>, or fullnameOverride. Always prefixed by the release (no "contains" shortcut), so the
umbrella chart's Ingress and the introspector's default JWKS URL can name it. */}}
{{- define "issuer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "issuer.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* chart label value */}}
{{- define "issuer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods (never change them on upgrade: Deployment selectors are immutable). */}}
{{- define "issuer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "issuer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. part-of=ctp + instance lets NetworkPolicies admit the release's own pods. */}}
{{- define "issuer.labels" -}}
helm.sh/chart: {{ include "issuer.chart" . }}
{{ include "issuer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: issuer
app.kubernetes.io/part-of: ctp
{{- end }}

{{/* <registry>/<repository>:<tag>; tag: image.tag, else global.ctp.imageTag, else appVersion. */}}
{{- define "issuer.image" -}}
{{- $tag := .Values.image.tag | default .Values.global.ctp.imageTag | default .Chart.AppVersion -}}
{{- if .Values.global.ctp.imageRegistry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.global.ctp.imageRegistry) .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/* Checks that values.schema.json cannot express; included by deployment.yaml. */}}
{{- define "issuer.validate" -}}
{{- if and (not .Values.global.ctp.devMode) (not .Values.global.ctp.secrets.partners.name) }}
{{- fail "global.ctp.secrets.partners.name is required unless global.ctp.devMode is true" }}
{{- end }}
{{- if and (not .Values.signingKeys.existingSecret) (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "signingKeys.existingSecret is required with more than one issuer replica: every replica must sign with the same keys" }}
{{- end }}
{{- if and .Values.kms.enabled (not .Values.kms.keyName) }}
{{- fail "kms.keyName is required when kms.enabled" }}
{{- end }}
{{- end }}

{{/* Environment: CTP_* variables from values and Secrets (README.md, Configuration). */}}
{{- define "issuer.env" -}}
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
- name: CTP_KEY_DIR
  value: /var/lib/ctp/keys
{{- if .Values.operators.existingConfigMap }}
- name: CTP_OPERATORS_FILE
  value: /etc/ctp/operators/{{ .Values.operators.key }}
{{- end }}
- name: CTP_SUBJECT_SECRET_FILE
  value: /etc/ctp/subject/{{ .Values.subjectSecret.key }}
{{- if .Values.kms.enabled }}
- name: CTP_KMS_KEY
  value: {{ .Values.kms.keyName | quote }}
- name: CTP_KMS_PUBLISHED_KEYS
  value: {{ join "," .Values.kms.publishedKeys | quote }}
- name: CTP_KMS_TIMEOUT_MS
  value: {{ .Values.kms.timeoutMs | toString | quote }}
{{- with .Values.kms.endpoint }}
- name: CTP_KMS_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if .Values.kms.credentialsSecret }}
- name: GOOGLE_APPLICATION_CREDENTIALS
  value: /etc/ctp/kms/{{ .Values.kms.credentialsKey }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
