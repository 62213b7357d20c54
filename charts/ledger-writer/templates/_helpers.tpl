{{/*
Helpers of the ledger-writer chart. Template names carry the chart name: Helm shares one template
namespace between the umbrella chart and all its subcharts.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "ledger-writer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<name>, or fullnameOverride. Always prefixed by the release (no "contains" shortcut), so the
umbrella chart's Ingress and the introspector's default JWKS URL can name it. */}}
{{- define "ledger-writer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "ledger-writer.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* chart label value */}}
{{- define "ledger-writer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods (never change them on upgrade: Deployment selectors are immutable). */}}
{{- define "ledger-writer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ledger-writer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. part-of=ctp + instance lets NetworkPolicies admit the release's own pods. */}}
{{- define "ledger-writer.labels" -}}
helm.sh/chart: {{ include "ledger-writer.chart" . }}
{{ include "ledger-writer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: ledger-writer
app.kubernetes.io/part-of: ctp
{{- end }}

{{/* <registry>/<repository>:<tag>; tag: image.tag, else global.ctp.imageTag, else appVersion. */}}
{{- define "ledger-writer.image" -}}
{{- $tag := .Values.image.tag | default .Values.global.ctp.imageTag | default .Chart.AppVersion -}}
{{- if .Values.global.ctp.imageRegistry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.global.ctp.imageRegistry) .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/* Checks that values.schema.json cannot express; included by deployment.yaml. */}}
{{- define "ledger-writer.validate" -}}
{{- if and (gt (int .Values.config.CTP_LEDGER_RETENTION_INTERVAL_MS) 0) (not .Values.databaseOwnerUrl.name) (not .Values.global.ctp.devMode) }}
{{- fail "config.CTP_LEDGER_RETENTION_INTERVAL_MS > 0 needs databaseOwnerUrl: only the tables' owner may drop sealed partitions" }}
{{- end }}
{{- if and .Values.config.CTP_TSA_URL (not .Values.tsa.rootsConfigMap) }}
{{- fail "config.CTP_TSA_URL needs tsa.rootsConfigMap (the PEM root certificates of the TSA)" }}
{{- end }}
{{- end }}

{{/* Environment: CTP_* variables from values and Secrets (README.md, Configuration). */}}
{{- define "ledger-writer.env" -}}
- name: CTP_HOST
  value: {{ .Values.listenHost | quote }}
- name: CTP_PORT
  value: {{ .Values.containerPort | quote }}
- name: LOG_LEVEL
  value: {{ .Values.global.ctp.logLevel | quote }}
- name: CTP_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "global.ctp.secrets.natsUrl.name is required" .Values.global.ctp.secrets.natsUrl.name }}
      key: {{ .Values.global.ctp.secrets.natsUrl.key }}
- name: CTP_DEV_MODE
  value: {{ .Values.global.ctp.devMode | quote }}
- name: CTP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "global.ctp.secrets.databaseUrl.name is required" .Values.global.ctp.secrets.databaseUrl.name }}
      key: {{ .Values.global.ctp.secrets.databaseUrl.key }}
{{- if .Values.databaseOwnerUrl.name }}
- name: CTP_DATABASE_OWNER_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.databaseOwnerUrl.name }}
      key: {{ .Values.databaseOwnerUrl.key }}
{{- end }}
{{- if .Values.global.ctp.secrets.partners.name }}
- name: CTP_PARTNERS_FILE
  value: /etc/ctp/partners/{{ .Values.global.ctp.secrets.partners.key }}
{{- end }}
- name: CTP_LEDGER_KEY_DIR
  value: {{ ternary "/etc/ctp/ledger-keys" "/var/lib/ctp/ledger-keys" (ne .Values.checkpointKeys.existingSecret "") }}
{{- if .Values.tsa.rootsConfigMap }}
- name: CTP_TSA_ROOTS
  value: {{ printf "/etc/ctp/tsa/%s" .Values.tsa.rootsKey | quote }}
{{- end }}
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
