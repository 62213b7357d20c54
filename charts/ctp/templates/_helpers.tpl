{{/*
Helpers of the ctp umbrella chart. Template names start with "ctp." (Helm shares one template
namespace between this chart and its subcharts, whose helpers start with their own names).
*/}}

{{/* <release>-ctp, or the release name when it already says ctp. */}}
{{- define "ctp.fullname" -}}
{{- if contains "ctp" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-ctp" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels on every object of the umbrella chart. */}}
{{- define "ctp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: ctp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ctp
{{- end }}

{{/*
Service name of a subchart, computed as its own fullname helper does:
fullnameOverride, else <release>-<nameOverride or chart name>.
Usage: include "ctp.serviceName" (dict "root" . "chart" "issuer")
*/}}
{{- define "ctp.serviceName" -}}
{{- $values := index .root.Values .chart -}}
{{- if $values.fullnameOverride -}}
{{- $values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name (default .chart $values.nameOverride) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{/* One Ingress path: dict "path" "/issue" "type" "Exact" "service" <name>. */}}
{{- define "ctp.ingressPath" -}}
- path: {{ .path }}
  pathType: {{ .type }}
  backend:
    service:
      name: {{ .service }}
      port:
        name: http
{{- end }}

{{/* The issuer's image (it has node), for the umbrella's helm test: the issuer's image values as set here. */}}
{{- define "ctp.testImage" -}}
{{- $image := dict "repository" "ctp-issuer" "tag" "" "digest" "" | merge (dig "image" dict .Values.issuer) -}}
{{- $repository := $image.repository -}}
{{- with .Values.global.ctp.imageRegistry }}{{ $repository = printf "%s/%s" (trimSuffix "/" .) $image.repository }}{{ end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($image.tag | default .Values.global.ctp.imageTag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end }}

{{/* Base URL of the runbooks: runbooks.baseUrl, or the chart's home at this appVersion's tag. */}}
{{- define "ctp.runbookBaseUrl" -}}
{{- .Values.runbooks.baseUrl | default (printf "%s/blob/v%s/docs/runbooks" .Chart.Home .Chart.AppVersion) | trimSuffix "/" -}}
{{- end }}

{{/* The runbook link base written in the tested files (infra/): the chart replaces it with ctp.runbookBaseUrl. */}}
{{- define "ctp.testedRunbookBaseUrl" -}}
https://github.com/ctp/ctp/blob/main/docs/runbooks
{{- end }}

{{/* http or https: the scheme of a service as its umbrella values set it (https with tls.existingSecret). */}}
{{- define "ctp.testScheme" -}}
{{- ternary "https" "http" (ne (dig "tls" "existingSecret" "" .) "") -}}
{{- end }}
