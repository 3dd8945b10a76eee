{{/* Names, labels and values shared by the templates. */}}

{{- define "detour.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* RELEASE-detour, or RELEASE when it already says detour; 63 characters at most (DNS label). */}}
{{- define "detour.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "detour.selectorLabels" -}}
app.kubernetes.io/name: {{ include "detour.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/* The preview gateway's pods: the manager's Service selects component manager, so never these. */}}
{{- define "detour.gatewaySelectorLabels" -}}
app.kubernetes.io/name: {{ include "detour.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: preview-gateway
{{- end }}

{{- define "detour.gatewayLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "detour.gatewaySelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: detour
{{- end }}

{{/* The origin preview links use: previews.url, or http://DOMAIN. */}}
{{- define "detour.previewUrl" -}}
{{- default (printf "http://%s" .Values.previews.domain) .Values.previews.url | trimSuffix "/" }}
{{- end }}

{{- define "detour.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "detour.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: detour
{{- end }}

{{/* The namespaces the manager serves: managedNamespaces, or the release namespace alone. */}}
{{- define "detour.managedNamespaces" -}}
{{- $namespaces := .Values.managedNamespaces | default (list .Release.Namespace) }}
{{- toJson (uniq $namespaces) }}
{{- end }}

{{- define "detour.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "detour.agentImage" -}}
{{- $repository := .Values.agent.image.repository | default .Values.image.repository }}
{{- $tag := .Values.agent.image.tag | default (.Values.image.tag | default .Chart.AppVersion) }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}

{{- define "detour.tokenSecretName" -}}
{{- .Values.token.existingSecret | default (printf "%s-token" (include "detour.fullname" .)) }}
{{- end }}

{{- define "detour.authSecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "detour.fullname" .)) }}
{{- end }}

{{- define "detour.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "detour.fullname" .) }}
{{- end }}

{{/* The manager's URL as agents in any managed namespace reach it (https:// with tls.enabled). */}}
{{- define "detour.managerUrl" -}}
{{- printf "%s://%s.%s.svc:%v" (ternary "https" "http" .Values.tls.enabled) (include "detour.fullname" .) .Release.Namespace .Values.manager.port }}
{{- end }}

{{/* The Secret with the manager's TLS certificate and key. */}}
{{- define "detour.tlsSecretName" -}}
{{- .Values.tls.existingSecret | default (printf "%s-manager-tls" (include "detour.fullname" .)) }}
{{- end }}

{{/* The Secret, in every managed namespace, with the CA injected agents verify the manager with. */}}
{{- define "detour.managerCaSecretName" -}}
{{- printf "%s-manager-ca" (include "detour.fullname" .) }}
{{- end }}

{{/* Where the API server sends AdmissionReviews (served by the manager). */}}
{{- define "detour.webhookPath" -}}
/v1/webhook/inject
{{- end }}

{{/*
`detour manager`'s arguments, one per line. The webhook's certificate files are re-read when
they change (cert-manager renews them in place).
*/}}
{{- define "detour.managerArgs" -}}
- manager
- --host=0.0.0.0
- --port={{ .Values.manager.port }}
{{- if .Values.auth.enabled }}
- --auth-file=/var/run/secrets/detour-auth/auth.yaml
{{- else }}
- --token-file=/var/run/secrets/detour/token
{{- end }}
- --lease-ms={{ int .Values.leaseMs }}
{{- if not .Values.allowGlobal }}
- --no-global
{{- end }}
- --state=kubernetes
- --webhook-port={{ .Values.manager.webhookPort }}
- --webhook-cert=/var/run/secrets/detour-webhook/tls.crt
- --webhook-key=/var/run/secrets/detour-webhook/tls.key
- --agent-image={{ include "detour.agentImage" . }}
- --agent-manager-url={{ include "detour.managerUrl" . }}
- --agent-token-secret={{ include "detour.tokenSecretName" . }}
- --agent-resources={{ toJson .Values.agent.resources }}
{{- range $namespace := include "detour.managedNamespaces" . | fromJsonArray }}
- --inject-namespace={{ $namespace }}
{{- end }}
{{- if .Values.previews.enabled }}
- --preview-url={{ include "detour.previewUrl" . }}
{{- end }}
- --egress=cluster
{{- range $namespace := include "detour.managedNamespaces" . | fromJsonArray }}
- --egress-namespace={{ $namespace }}
{{- end }}
{{- if .Values.tls.enabled }}
- --tls-cert=/var/run/secrets/detour-tls/tls.crt
- --tls-key=/var/run/secrets/detour-tls/tls.key
{{- if .Values.tls.clientCaBundle }}
- --client-ca=/var/run/secrets/detour-client-ca/ca.crt
{{- end }}
{{- if .Values.tls.caBundle }}
- --agent-manager-ca-secret={{ include "detour.managerCaSecretName" . }}
{{- end }}
{{- else }}
- --agent-insecure
{{- end }}
{{- end }}
