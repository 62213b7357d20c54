{{/*
What only the ledger-writer has; the rest comes from the ctp-common library chart. Template names carry
the chart name: Helm shares one template namespace between the umbrella chart and all its subcharts.
*/}}

{{/* Checks that values.schema.json cannot express; included by deployment.yaml. */}}
{{- define "ledger-writer.validate" -}}
{{- if and (gt (int .Values.config.CTP_LEDGER_RETENTION_INTERVAL_MS) 0) (not .Values.databaseOwnerUrl.name) (not .Values.global.ctp.devMode) }}
{{- fail "config.CTP_LEDGER_RETENTION_INTERVAL_MS > 0 needs databaseOwnerUrl: only the tables' owner may drop sealed partitions" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (eq (int .Values.config.CTP_LEDGER_LEASE_MS) 0) }}
{{- fail "replicaCount > 1 needs config.CTP_LEDGER_LEASE_MS > 0: the leader lease lets exactly one writer append" }}
{{- end }}
{{- if and (eq (int .Values.config.CTP_LEDGER_LEASE_MS) 0) (ne .Values.strategy.type "Recreate") }}
{{- fail "config.CTP_LEDGER_LEASE_MS 0 needs strategy.type Recreate: without the lease, two writers must never run at once" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.checkpointKeys.existingSecret) }}
{{- fail "replicaCount > 1 needs checkpointKeys.existingSecret: every writer must sign checkpoints with the same key" }}
{{- end }}
{{- if and .Values.config.CTP_TSA_URL (not .Values.tsa.rootsConfigMap) }}
{{- fail "config.CTP_TSA_URL needs tsa.rootsConfigMap (the PEM root certificates of the TSA)" }}
{{- end }}
{{- if and (gt (int .Values.config.CTP_LEDGER_RETENTION_INTERVAL_MS) 0) (not .Values.segments.existingClaim) }}
{{- fail "config.CTP_LEDGER_RETENTION_INTERVAL_MS > 0 needs segments.existingClaim: sealed segments must outlive the pod" }}
{{- end }}
{{- end }}

{{/* The ledger-writer's own environment (README.md, Configuration). */}}
{{- define "ledger-writer.env" -}}
{{ include "ctp-common.partnerEnv" . }}
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
- name: CTP_LEDGER_KEY_DIR
  value: {{ ternary "/etc/ctp/ledger-keys" "/var/lib/ctp/ledger-keys" (ne .Values.checkpointKeys.existingSecret "") }}
{{- if .Values.tsa.rootsConfigMap }}
- name: CTP_TSA_ROOTS
  value: {{ printf "/etc/ctp/tsa/%s" .Values.tsa.rootsKey | quote }}
{{- end }}
{{- end }}

{{- define "ledger-writer.volumeMounts" -}}
{{ include "ctp-common.partnersMount" . }}
- name: data
  mountPath: /var/lib/ctp
- name: segments
  mountPath: /var/lib/ctp-segments
{{- if .Values.checkpointKeys.existingSecret }}
- name: checkpoint-keys
  mountPath: /etc/ctp/ledger-keys
  readOnly: true
{{- end }}
{{- if .Values.tsa.rootsConfigMap }}
- name: tsa-roots
  mountPath: /etc/ctp/tsa
  readOnly: true
{{- end }}
{{- end }}

{{- define "ledger-writer.volumes" -}}
{{ include "ctp-common.partnersVolume" . }}
- name: data
  emptyDir:
    sizeLimit: 16Mi
- name: segments
  {{- if .Values.segments.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.segments.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: 64Mi
  {{- end }}
{{- if .Values.checkpointKeys.existingSecret }}
- name: checkpoint-keys
  secret:
    secretName: {{ .Values.checkpointKeys.existingSecret }}
    defaultMode: 288 # 0440
{{- end }}
{{- if .Values.tsa.rootsConfigMap }}
- name: tsa-roots
  configMap:
    name: {{ .Values.tsa.rootsConfigMap }}
{{- end }}
{{- end }}

{{/* Egress the ledger-writer's settings need: the RFC 3161 TSA (config.CTP_TSA_URL). */}}
{{- define "ledger-writer.egress" -}}
{{- with .Values.config.CTP_TSA_URL }}
# The RFC 3161 time-stamping authority (config.CTP_TSA_URL).
{{ include "ctp-common.urlEgress" . }}
{{- end }}
{{- end }}
