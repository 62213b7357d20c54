{{/*
What only the introspector has; the rest comes from the ctp-common library chart. Template names carry the
chart name: Helm shares one template namespace between the umbrella chart and all its subcharts.
*/}}

{{/* Checks that values.schema.json cannot express; included by deployment.yaml. */}}
{{- define "introspector.validate" -}}
{{- include "ctp-common.validatePartners" . }}
{{- end }}

{{/* The introspector's own environment (README.md, Configuration). */}}
{{- define "introspector.env" -}}
{{ include "ctp-common.issuerEnv" . }}
{{ include "ctp-common.partnerEnv" . }}
{{ include "ctp-common.redisEnv" . }}
- name: CTP_JWKS_URL
  value: {{ include "introspector.jwksUrl" . | quote }}
{{- end }}

{{/* CTP_JWKS_URL: jwksUrl, or this release's issuer. */}}
{{- define "introspector.jwksUrl" -}}
{{- .Values.jwksUrl | default (printf "http://%s-issuer:8001/.well-known/jwks.json" .Release.Name) -}}
{{- end }}

{{/* Egress the introspector's settings need: a JWKS outside this release (jwksUrl). */}}
{{- define "introspector.egress" -}}
{{- with .Values.jwksUrl }}
# The issuer's JWKS (jwksUrl).
{{ include "ctp-common.urlEgress" . }}
{{- end }}
{{- end }}
