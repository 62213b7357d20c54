{{/*
What only the revocation-broadcaster has; the rest comes from the ctp-common library chart. Template names carry the
chart name: Helm shares one template namespace between the umbrella chart and all its subcharts.
*/}}

{{/* Checks that values.schema.json cannot express; included by deployment.yaml. */}}
{{- define "revocation-broadcaster.validate" -}}
{{- include "ctp-common.validatePartners" . }}
{{- end }}

{{/* The revocation-broadcaster's own environment (README.md, Configuration). */}}
{{- define "revocation-broadcaster.env" -}}
{{ include "ctp-common.partnerEnv" . }}
{{ include "ctp-common.redisEnv" . }}
{{- end }}
