{{/*
Names, labels and the pieces shared by the coordinator and worker templates.
*/}}

{{- define "floe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-floe, or the release name alone when it already holds the chart name. */}}
{{- define "floe.fullname" -}}
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

{{/*
Component names keep within Kubernetes' limits: the headless Service's name
(<base>-coordinator-headless) within 63 characters, and the StatefulSet's
within 52, as its pods' controller-revision-hash label appends a hash.
*/}}
{{- define "floe.base" -}}
{{- include "floe.fullname" . | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "floe.coordinator.fullname" -}}
{{- printf "%s-coordinator" (include "floe.base" .) -}}
{{- end -}}

{{- define "floe.coordinator.headless" -}}
{{- printf "%s-headless" (include "floe.coordinator.fullname" .) -}}
{{- end -}}

{{- define "floe.worker.fullname" -}}
{{- printf "%s-worker" (include "floe.base" .) -}}
{{- end -}}

{{- define "floe.configMapName" -}}
{{- printf "%s-config" (include "floe.base" .) -}}
{{- end -}}

{{- define "floe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "floe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "floe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "floe.labels" -}}
helm.sh/chart: {{ include "floe.chart" . }}
{{ include "floe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: floe
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "coordinator"). */}}
{{- define "floe.componentLabels" -}}
{{ include "floe.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "floe.componentSelectorLabels" -}}
{{ include "floe.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "floe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "floe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "floe.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}

{{/* Where Secret-backed TLS files are mounted. */}}
{{- define "floe.tlsDir" -}}
{{- printf "/var/run/secrets/floe/%s" . -}}
{{- end -}}

{{- define "floe.adminTlsSecret" -}}
{{- default .Values.coordinator.tls.secretName .Values.admin.tls.secretName -}}
{{- end -}}

{{/*
The workers' coordinator list: every coordinator pod by its stable DNS name
through the headless Service. The workers find the leader themselves.
*/}}
{{- define "floe.coordinatorUrls" -}}
{{- $scheme := ternary "https" "http" (.Values.coordinator.tls.enabled | default false) -}}
{{- $name := include "floe.coordinator.fullname" . -}}
{{- $headless := include "floe.coordinator.headless" . -}}
{{- $suffix := "svc" -}}
{{- if .Values.clusterDomain -}}
{{- $suffix = printf "svc.%s" .Values.clusterDomain -}}
{{- end -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.coordinator.replicaCount) -}}
{{- $urls = append $urls (printf "%s://%s-%d.%s.%s.%s:%d" $scheme $name $i $headless $.Release.Namespace $suffix (int $.Values.coordinator.port)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/*
A secret value in `config:` would land in the ConfigMap: refuse it unless it
is a ${NAME} placeholder. (dict "value" V "path" "iceberg.catalog.token" "ref" "iceberg.catalog.tokenSecretRef")
*/}}
{{- define "floe.refuseInlineSecret" -}}
{{- $v := .value | default "" | toString -}}
{{- if and $v (not (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" $v)) -}}
{{- fail (printf "config.%s holds a credential, which would be written to a ConfigMap: put it in a Secret and set %s (name, key) instead" .path .ref) -}}
{{- end -}}
{{- end -}}

{{/*
The config file: values `config:` merged with what the chart controls (the
listen addresses, TLS file paths and ${NAME} placeholders of the Secrets
given by reference).
*/}}
{{- define "floe.config" -}}
{{- $v := .Values -}}
{{- if hasKey $v.config "existingConfigMap" -}}
{{- if $v.config.existingConfigMap -}}
{{- fail "config.existingConfigMap is not supported by this chart: put floe's config under config: (credentials by Secret reference)" -}}
{{- end -}}
{{- end -}}
{{- $config := omit (deepCopy $v.config) "existingConfigMap" "path" -}}
{{- $iceberg := $config.iceberg | default dict -}}
{{- $catalog := $iceberg.catalog | default dict -}}
{{- $etcd := $config.etcd | default dict -}}
{{- $admin := $config.admin | default dict -}}
{{- include "floe.refuseInlineSecret" (dict "value" $catalog.token "path" "iceberg.catalog.token" "ref" "iceberg.catalog.tokenSecretRef") -}}
{{- include "floe.refuseInlineSecret" (dict "value" $catalog.password "path" "iceberg.catalog.password" "ref" "iceberg.catalog.passwordSecretRef") -}}
{{- include "floe.refuseInlineSecret" (dict "value" $etcd.password "path" "etcd.password" "ref" "etcd.passwordSecretRef") -}}
{{- include "floe.refuseInlineSecret" (dict "value" $admin.token "path" "admin.token" "ref" "admin.tokenSecretRef") -}}
{{- if regexMatch "://[^/@:]+:[^/@]+@" ($catalog.uri | default "" | toString) -}}
{{- fail "config.iceberg.catalog.uri holds a password, which would be written to a ConfigMap: put the URI in a Secret and set iceberg.catalog.uriSecretRef (name, key) instead" -}}
{{- end -}}
{{- if and (gt (int $v.coordinator.replicaCount) 1) (not $etcd.endpoints) -}}
{{- fail "coordinator.replicaCount > 1 needs etcd for leader election: set config.etcd.endpoints (and config.offsets.backend: etcd), or run one coordinator" -}}
{{- end -}}
{{- $coordinator := dict "listen" (printf "0.0.0.0:%d" (int $v.coordinator.port)) -}}
{{- if $v.coordinator.tls.enabled -}}
{{- if not $v.coordinator.tls.secretName -}}
{{- fail "coordinator.tls.enabled needs coordinator.tls.secretName (a Secret with tls.crt and tls.key)" -}}
{{- end -}}
{{- $dir := include "floe.tlsDir" "coordinator" -}}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) -}}
{{- if $v.coordinator.tls.mutual -}}
{{- $_ := set $tls "ca_file" (printf "%s/ca.crt" $dir) -}}
{{- end -}}
{{- $_ := set $coordinator "tls" $tls -}}
{{- end -}}
{{- $adminSet := dict "listen" (printf "0.0.0.0:%d" (int $v.admin.port)) -}}
{{- if $v.admin.tokenSecretRef.name -}}
{{- $_ := set $adminSet "token" "${FLOE_ADMIN_TOKEN}" -}}
{{- end -}}
{{- if $v.admin.tls.enabled -}}
{{- if not (include "floe.adminTlsSecret" .) -}}
{{- fail "admin.tls.enabled needs admin.tls.secretName or coordinator.tls.secretName (a Secret with tls.crt and tls.key)" -}}
{{- end -}}
{{- $dir := include "floe.tlsDir" "admin" -}}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) -}}
{{- if $v.admin.tls.mutual -}}
{{- $_ := set $tls "ca_file" (printf "%s/ca.crt" $dir) -}}
{{- end -}}
{{- $_ := set $adminSet "tls" $tls -}}
{{- end -}}
{{- $catalogSet := dict -}}
{{- if $v.iceberg.catalog.tokenSecretRef.name -}}
{{- $_ := set $catalogSet "token" "${FLOE_CATALOG_TOKEN}" -}}
{{- end -}}
{{- if $v.iceberg.catalog.passwordSecretRef.name -}}
{{- $_ := set $catalogSet "password" "${FLOE_CATALOG_PASSWORD}" -}}
{{- end -}}
{{- if $v.iceberg.catalog.uriSecretRef.name -}}
{{- $_ := set $catalogSet "uri" "${FLOE_CATALOG_URI}" -}}
{{- end -}}
{{- $etcdSet := dict -}}
{{- if $v.etcd.passwordSecretRef.name -}}
{{- $_ := set $etcdSet "password" "${FLOE_ETCD_PASSWORD}" -}}
{{- end -}}
{{- if $v.etcd.tls.secretName -}}
{{- $dir := include "floe.tlsDir" "etcd" -}}
{{- $tls := dict "ca_file" (printf "%s/ca.crt" $dir) -}}
{{- if $v.etcd.tls.clientCert -}}
{{- $_ := set $tls "cert_file" (printf "%s/tls.crt" $dir) -}}
{{- $_ := set $tls "key_file" (printf "%s/tls.key" $dir) -}}
{{- end -}}
{{- $_ := set $etcdSet "tls" $tls -}}
{{- end -}}
{{- $controlled := dict "coordinator" $coordinator "admin" $adminSet -}}
{{- if $catalogSet -}}
{{- $_ := set $controlled "iceberg" (dict "catalog" $catalogSet) -}}
{{- end -}}
{{- if $etcdSet -}}
{{- $_ := set $controlled "etcd" $etcdSet -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $config $controlled) -}}
{{- end -}}

{{/* An env var from a Secret key: (dict "name" ENV "ref" {name, key}). */}}
{{- define "floe.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.name | quote }}
      key: {{ .ref.key | quote }}
{{- end -}}

{{/* Environment shared by both components: logs, metrics, temp dir, S3 keys. */}}
{{- define "floe.commonEnv" -}}
- name: KAFSCALE_METRICS_ADDR
  value: {{ printf ":%d" (int .Values.metrics.port) | quote }}
- name: TMPDIR
  value: /tmp
{{- if .Values.logLevel }}
- name: RUST_LOG
  value: {{ .Values.logLevel | quote }}
{{- end }}
{{- with .Values.s3.credentialsSecretRef }}
{{ include "floe.secretEnv" (dict "name" "AWS_ACCESS_KEY_ID" "ref" (dict "name" . "key" "AWS_ACCESS_KEY_ID")) }}
{{ include "floe.secretEnv" (dict "name" "AWS_SECRET_ACCESS_KEY" "ref" (dict "name" . "key" "AWS_SECRET_ACCESS_KEY")) }}
{{- if $.Values.s3.sessionTokenKey }}
{{ include "floe.secretEnv" (dict "name" "AWS_SESSION_TOKEN" "ref" (dict "name" . "key" $.Values.s3.sessionTokenKey)) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Liveness and readiness on the metrics port: (dict "probes" .Values.X). */}}
{{- define "floe.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml .livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  {{- toYaml .readinessProbe | nindent 2 }}
{{- end -}}

{{/* The /tmp emptyDir: (dict "sizeLimit" "1Gi"). */}}
{{- define "floe.tmpVolume" -}}
- name: tmp
  {{- if .sizeLimit }}
  emptyDir:
    sizeLimit: {{ .sizeLimit | quote }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- end -}}

{{/* The admin API of every coordinator pod, by its stable DNS name. */}}
{{- define "floe.adminUrls" -}}
{{- $scheme := ternary "https" "http" (.Values.admin.tls.enabled | default false) -}}
{{- $name := include "floe.coordinator.fullname" . -}}
{{- $headless := include "floe.coordinator.headless" . -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.coordinator.replicaCount) -}}
{{- $urls = append $urls (printf "%s://%s-%d.%s.%s.svc:%d" $scheme $name $i $headless $.Release.Namespace (int $.Values.admin.port)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}
