{{/*
What only the issuer has; the rest comes from the ctp-common library chart. Template names carry the
chart name: Helm shares one template namespace between the umbrella chart and all its subcharts.
*/}}

{{/* Checks that values.schema.json cannot express; included by deployment.yaml. */}}
{{- define "issuer.validate" -}}
{{- include "ctp-common.validatePartners" . }}
{{- if and (not .Values.signingKeys.existingSecret) (not .Values.kms.enabled) (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "signingKeys.existingSecret is required with more than one issuer replica: every replica must sign with the same keys" }}
{{- end }}
{{- if and .Values.kms.enabled (not .Values.kms.keyName) }}
{{- fail "kms.keyName is required when kms.enabled" }}
{{- end }}
{{- end }}

{{/* The issuer's own environment (README.md, Configuration). */}}
{{- define "issuer.env" -}}
{{ include "ctp-common.issuerEnv" . }}
{{ include "ctp-common.partnerEnv" . }}
{{ include "ctp-common.redisEnv" . }}
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
{{- end }}

{{/* The issuer chmods its key directory (0700) and reads keys.json and <kid>.pem from it, which a
read-only Secret volume does not allow: copy the Secret into the writable emptyDir first. */}}
{{- define "issuer.initContainers" -}}
{{- if .Values.signingKeys.existingSecret }}
- name: copy-signing-keys
  image: {{ include "ctp-common.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command:
    - sh
    - -c
    - mkdir -p /var/lib/ctp/keys && cp -L /etc/ctp/signing-keys/* /var/lib/ctp/keys/ && chmod 700 /var/lib/ctp/keys && chmod 600 /var/lib/ctp/keys/*
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests:
      cpu: 10m
      memory: 16Mi
    limits:
      memory: 64Mi
  volumeMounts:
    - name: signing-keys
      mountPath: /etc/ctp/signing-keys
      readOnly: true
    - name: data
      mountPath: /var/lib/ctp
{{- end }}
{{- end }}

{{- define "issuer.volumeMounts" -}}
- name: data
  mountPath: /var/lib/ctp
{{ include "ctp-common.partnersMount" . }}
- name: subject-secret
  mountPath: /etc/ctp/subject
  readOnly: true
{{- if .Values.operators.existingConfigMap }}
- name: operators
  mountPath: /etc/ctp/operators
  readOnly: true
{{- end }}
{{- if and .Values.kms.enabled .Values.kms.credentialsSecret }}
- name: kms-credentials
  mountPath: /etc/ctp/kms
  readOnly: true
{{- end }}
{{- end }}

{{- define "issuer.volumes" -}}
- name: data
  emptyDir:
    sizeLimit: 16Mi
{{ include "ctp-common.partnersVolume" . }}
{{- if .Values.operators.existingConfigMap }}
- name: operators
  configMap:
    name: {{ .Values.operators.existingConfigMap }}
    items:
      - key: {{ .Values.operators.key }}
        path: {{ .Values.operators.key }}
{{- end }}
- name: subject-secret
  secret:
    secretName: {{ .Values.subjectSecret.existingSecret }}
    defaultMode: 288 # 0440
    items:
      - key: {{ .Values.subjectSecret.key }}
        path: {{ .Values.subjectSecret.key }}
{{- if .Values.signingKeys.existingSecret }}
- name: signing-keys
  secret:
    secretName: {{ .Values.signingKeys.existingSecret }}
    defaultMode: 288 # 0440
{{- end }}
{{- if and .Values.kms.enabled .Values.kms.credentialsSecret }}
- name: kms-credentials
  secret:
    secretName: {{ .Values.kms.credentialsSecret }}
    defaultMode: 288 # 0440
    items:
      - key: {{ .Values.kms.credentialsKey }}
        path: {{ .Values.kms.credentialsKey }}
{{- end }}
{{- end }}

{{/* Egress the issuer's settings need: Cloud KMS (its endpoint, or Google's on 443). */}}
{{- define "issuer.egress" -}}
{{- if .Values.kms.enabled }}
{{- if .Values.kms.endpoint }}
# The KMS endpoint (kms.endpoint, plaintext gRPC).
{{ include "ctp-common.urlEgress" (printf "http://%s" .Values.kms.endpoint) }}
{{- else }}
# Google Cloud KMS (HTTPS) and Google's token endpoint.
{{ include "ctp-common.urlEgress" "https://cloudkms.googleapis.com" }}
{{- end }}
{{- end }}
{{- end }}
