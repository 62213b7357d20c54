{{/*
Names, labels and the image reference of a CTP service chart. Every template takes the service
chart's own context (.), so .Chart is that chart: names and labels carry its name.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "ctp-common.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<name>, or fullnameOverride. Always prefixed by the release (no "contains" shortcut), so the
umbrella chart's Ingress and the introspector's default JWKS URL can name it. */}}
{{- define "ctp-common.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "ctp-common.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* chart label value */}}
{{- define "ctp-common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods (never change them on upgrade: Deployment selectors are immutable). */}}
{{- define "ctp-common.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ctp-common.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. part-of=ctp + instance lets NetworkPolicies admit the release's own pods. */}}
{{- define "ctp-common.labels" -}}
helm.sh/chart: {{ include "ctp-common.chart" . }}
{{ include "ctp-common.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Chart.Name }}
app.kubernetes.io/part-of: ctp
{{- end }}

{{/*
<registry>/<repository>:<tag>, or <registry>/<repository>@<digest> when image.digest is set (the digest
pins the exact image; the tag is then left out, as a tag next to a digest is ignored by the runtime).
tag: image.tag, else global.ctp.imageTag, else appVersion.
*/}}
{{- define "ctp-common.image" -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.global.ctp.imageRegistry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .Values.global.ctp.imageRegistry) .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Values.global.ctp.imageTag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end }}

{{/* The ServiceAccount the pods run as: the created one, serviceAccount.name, or "" (the namespace default). */}}
{{- define "ctp-common.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "ctp-common.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}
{{- end }}

{{/* HTTP or HTTPS: the scheme of the pod's own port (HTTPS when tls.existingSecret makes the service terminate TLS). */}}
{{- define "ctp-common.scheme" -}}
{{- .Values.probes.scheme | default (ternary "HTTPS" "HTTP" (ne .Values.tls.existingSecret "")) -}}
{{- end }}

{{/* The replicas the pods normally run at: autoscaling.minReplicas with an HPA, else replicaCount. */}}
{{- define "ctp-common.minReplicas" -}}
{{- ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled | int -}}
{{- end }}
