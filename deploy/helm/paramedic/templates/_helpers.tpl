{{/*
Names. Namespaced objects are named after the release (fullname); cluster-scoped ones also carry the
namespace, so two releases, even of the same name in two namespaces, never claim the same object.
*/}}
{{- define "paramedic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "paramedic.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Cluster-scoped objects: fullname and namespace (ClusterRole names may be up to 253 characters). */}}
{{- define "paramedic.clusterName" -}}
{{- printf "%s-%s" (include "paramedic.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{- define "paramedic.serviceAccountName" -}}
{{- default (include "paramedic.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "paramedic.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "paramedic.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: paramedic
{{- end -}}

{{- define "paramedic.selector" -}}
app.kubernetes.io/name: {{ include "paramedic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
