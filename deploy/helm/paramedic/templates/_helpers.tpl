{{- define "paramedic.labels" -}}
app.kubernetes.io/name: paramedic
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "paramedic.selector" -}}
app.kubernetes.io/name: paramedic
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
