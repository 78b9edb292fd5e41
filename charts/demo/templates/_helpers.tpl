{{/*
Labels every object carries. envctl's waiter selects a release's workloads and pods by
app.kubernetes.io/instance, so it must be on pod templates too.
Call with (dict "root" $ "name" "<service>").
*/}}
{{- define "demo.labels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* The pod selector: the stable subset of the labels (selectors are immutable). */}}
{{- define "demo.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
{{- end }}
