{{/*
The chart's name.
*/}}
{{- define "single-window.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources (at most 63 characters, DNS-1123).
*/}}
{{- define "single-window.fullname" -}}
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

{{/*
A name derived from the full name with a suffix, kept within 63 characters.
Usage: include "single-window.suffixed" (list . "migrate")
*/}}
{{- define "single-window.suffixed" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "single-window.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/*
chart label: name-version.
*/}}
{{- define "single-window.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The image tag: image.tag, or the chart's appVersion.
*/}}
{{- define "single-window.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
The image reference: repository:tag, or repository@digest when a digest is given.
*/}}
{{- define "single-window.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "single-window.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Labels of every resource. Usage: include "single-window.labels" (dict "ctx" . "component" "server")
*/}}
{{- define "single-window.labels" -}}
{{- $ctx := .ctx -}}
helm.sh/chart: {{ include "single-window.chart" $ctx }}
{{ include "single-window.selectorLabels" . }}
app.kubernetes.io/version: {{ include "single-window.imageTag" $ctx | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: single-window
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
{{- end }}

{{/*
Selector labels. Usage: include "single-window.selectorLabels" (dict "ctx" . "component" "server")
*/}}
{{- define "single-window.selectorLabels" -}}
app.kubernetes.io/name: {{ include "single-window.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The server's ServiceAccount name.
*/}}
{{- define "single-window.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "single-window.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Whether the backend is PostgreSQL ("true" or "").
*/}}
{{- define "single-window.postgres" -}}
{{- if eq .Values.database.backend "postgres" }}true{{ end }}
{{- end }}

{{/*
Whether the migration Job is rendered ("true" or "").
*/}}
{{- define "single-window.migrationsEnabled" -}}
{{- if and (eq .Values.database.backend "postgres") .Values.migrations.enabled }}true{{ end }}
{{- end }}

{{/*
The largest number of server replicas this release can run.
*/}}
{{- define "single-window.maxReplicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- max (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas) }}
{{- else }}
{{- int .Values.replicaCount }}
{{- end }}
{{- end }}

{{/*
Whether the chart renders a ConfigMap of files (principals, JWKS) from values ("true" or "").
*/}}
{{- define "single-window.filesConfigMap" -}}
{{- if or (and .Values.principals.file (not .Values.principals.existingConfigMap)) (and .Values.jwt.jwks (not .Values.jwt.existingConfigMap)) (and .Values.citizenTokens.jwks (not .Values.citizenTokens.existingConfigMap)) }}true{{ end }}
{{- end }}

{{/*
Whether a principals file is mounted ("true" or "").
*/}}
{{- define "single-window.principalsEnabled" -}}
{{- if or .Values.principals.existingConfigMap .Values.principals.file }}true{{ end }}
{{- end }}

{{/*
Whether a JWKS file is mounted, for `jwt` or `citizenTokens` ("true" or "").
Usage: include "single-window.jwksEnabled" .Values.jwt
*/}}
{{- define "single-window.jwksEnabled" -}}
{{- if or .existingConfigMap .jwks }}true{{ end }}
{{- end }}

{{/*
A value as a string for an environment variable: whole numbers without an exponent
(YAML numbers reach templates as float64), lists joined with commas.
*/}}
{{- define "single-window.envString" -}}
{{- if kindIs "float64" . }}
{{- if eq (floor .) . }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else if kindIs "slice" . }}
{{- join "," . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
A JSON file from values: a string as it is (helm --set-file), anything else as pretty JSON.
*/}}
{{- define "single-window.jsonFile" -}}
{{- if kindIs "string" . }}{{ trim . }}{{ else }}{{ toPrettyJson . }}{{ end }}
{{- end }}

{{/*
"true" when a value is given: neither null nor the empty string (0 counts as given).
*/}}
{{- define "single-window.isSet" -}}
{{- if not (or (kindIs "invalid" .) (and (kindIs "string" .) (eq . ""))) }}true{{ end }}
{{- end }}

{{/*
The non-secret settings, as a dict of SINGLE_WINDOW_* (and RUST_LOG) variables.
*/}}
{{- define "single-window.configEnv" -}}
{{- $v := .Values }}
{{- $env := dict }}
{{- $_ := set $env "SINGLE_WINDOW_LOG_FORMAT" "json" }}
{{- $_ := set $env "SINGLE_WINDOW_SHUTDOWN_TIMEOUT" (printf "%ds" (int $v.shutdownTimeoutSeconds)) }}
{{- if not (include "single-window.postgres" .) }}
{{- $_ := set $env "DATABASE_URL" (printf "sqlite://%s/%s" (trimSuffix "/" $v.database.sqlite.dataDir) $v.database.sqlite.fileName) }}
{{- end }}
{{- if not (kindIs "invalid" $v.database.maxConnections) }}
{{- $_ := set $env "SINGLE_WINDOW_DATABASE_MAX_CONNECTIONS" (include "single-window.envString" $v.database.maxConnections) }}
{{- end }}
{{- with $v.database.acquireTimeout }}
{{- $_ := set $env "SINGLE_WINDOW_DATABASE_ACQUIRE_TIMEOUT" . }}
{{- end }}
{{- with $v.config.logOrigin }}
{{- $_ := set $env "SINGLE_WINDOW_LOG_ORIGIN" . }}
{{- end }}
{{- with $v.config.corsAllowedOrigins }}
{{- $_ := set $env "SINGLE_WINDOW_CORS_ALLOWED_ORIGINS" (join "," .) }}
{{- end }}
{{- if not (kindIs "invalid" $v.config.maxConcurrentCalls) }}
{{- $_ := set $env "SINGLE_WINDOW_MAX_CONCURRENT_CALLS" (include "single-window.envString" $v.config.maxConcurrentCalls) }}
{{- end }}
{{- if not (kindIs "invalid" $v.config.routingConcurrency) }}
{{- $_ := set $env "SINGLE_WINDOW_ROUTING_CONCURRENCY" (include "single-window.envString" $v.config.routingConcurrency) }}
{{- end }}
{{- with $v.config.catalogPollInterval }}
{{- $_ := set $env "SINGLE_WINDOW_CATALOG_POLL_INTERVAL" . }}
{{- end }}
{{- with $v.config.timeZone }}
{{- $_ := set $env "SINGLE_WINDOW_TIME_ZONE" . }}
{{- end }}
{{- with $v.config.rustLog }}
{{- $_ := set $env "RUST_LOG" . }}
{{- end }}
{{- if include "single-window.jwksEnabled" $v.jwt }}
{{- $_ := set $env "SINGLE_WINDOW_JWT_ISSUER" $v.jwt.issuer }}
{{- with $v.jwt.audience }}
{{- $_ := set $env "SINGLE_WINDOW_JWT_AUDIENCE" . }}
{{- end }}
{{- with $v.jwt.algorithms }}
{{- $_ := set $env "SINGLE_WINDOW_JWT_ALGORITHMS" (join "," .) }}
{{- end }}
{{- end }}
{{- if include "single-window.jwksEnabled" $v.citizenTokens }}
{{- $_ := set $env "SINGLE_WINDOW_CITIZEN_TOKEN_ISSUER" $v.citizenTokens.issuer }}
{{- with $v.citizenTokens.audience }}
{{- $_ := set $env "SINGLE_WINDOW_CITIZEN_TOKEN_AUDIENCE" . }}
{{- end }}
{{- end }}
{{- range $name, $value := $v.config.settings }}
{{- $_ := set $env $name (include "single-window.envString" $value) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/*
Fails the render with a clear message when the values cannot work together.
*/}}
{{- define "single-window.validate" -}}
{{- $v := .Values }}
{{- $maxReplicas := int (include "single-window.maxReplicas" .) }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail (printf "single-window: autoscaling.minReplicas (%d) is above autoscaling.maxReplicas (%d)" (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- end }}
{{- if eq $v.database.backend "sqlite" }}
{{- if gt $maxReplicas 1 }}
{{- fail (printf "single-window: SQLite is a single-replica backend (one pod owns the database file), but this release could run %d replicas. With database.backend=sqlite set replicaCount=1 and, with autoscaling, autoscaling.maxReplicas=1 and minReplicas=1; for more replicas use database.backend=postgres." $maxReplicas) }}
{{- end }}
{{- if and $v.database.sqlite.persistence.enabled (not $v.database.sqlite.persistence.existingClaim) (has "ReadWriteMany" $v.database.sqlite.persistence.accessModes) }}
{{- fail "single-window: the SQLite file must not be shared: use ReadWriteOnce (or ReadWriteOncePod) in database.sqlite.persistence.accessModes" }}
{{- end }}
{{- else }}
{{- if not $v.database.existingSecret }}
{{- fail "single-window: database.backend=postgres needs database.existingSecret: an existing Secret whose key (database.existingSecretKey, default database-url) holds postgres://USER:PASSWORD@HOST:PORT/DATABASE" }}
{{- end }}
{{- if not $v.keys.existingSecret }}
{{- fail "single-window: database.backend=postgres needs keys.existingSecret: an existing Secret holding the keys file (JSON with the sealing, blind-index and log-signing keys, its format in the README under Privacy at rest; every replica must use the same keys)" }}
{{- end }}
{{- end }}
{{- if and (gt $maxReplicas 1) (not $v.pageToken.existingSecret) }}
{{- fail "single-window: more than one replica needs pageToken.existingSecret (a Secret holding a page-token key of at least 32 bytes): otherwise each pod signs page tokens with its own random key and the others refuse them" }}
{{- end }}
{{- if and $v.tls.enabled (not $v.tls.existingSecret) }}
{{- fail "single-window: tls.enabled needs tls.existingSecret (a Secret with the certificate chain and key)" }}
{{- end }}
{{- if and $v.tls.clientCA.enabled (not $v.tls.enabled) }}
{{- fail "single-window: tls.clientCA.enabled (mutual TLS) needs tls.enabled" }}
{{- end }}
{{- if and (include "single-window.jwksEnabled" $v.jwt) (not $v.jwt.issuer) }}
{{- fail "single-window: a JWKS for jwt needs jwt.issuer" }}
{{- end }}
{{- if and $v.jwt.issuer (not (include "single-window.jwksEnabled" $v.jwt)) }}
{{- fail "single-window: jwt.issuer is set but no JWKS is given (jwt.existingConfigMap or jwt.jwks)" }}
{{- end }}
{{- if and (include "single-window.jwksEnabled" $v.citizenTokens) (not $v.citizenTokens.issuer) }}
{{- fail "single-window: a JWKS for citizenTokens needs citizenTokens.issuer" }}
{{- end }}
{{- if and $v.citizenTokens.issuer (not (include "single-window.jwksEnabled" $v.citizenTokens)) }}
{{- fail "single-window: citizenTokens.issuer is set but no JWKS is given (citizenTokens.existingConfigMap or citizenTokens.jwks)" }}
{{- end }}
{{- $minAvailable := include "single-window.isSet" $v.podDisruptionBudget.minAvailable }}
{{- $maxUnavailable := include "single-window.isSet" $v.podDisruptionBudget.maxUnavailable }}
{{- if and $v.podDisruptionBudget.enabled $minAvailable $maxUnavailable }}
{{- fail "single-window: set only one of podDisruptionBudget.minAvailable and podDisruptionBudget.maxUnavailable (make the other \"\")" }}
{{- end }}
{{- if and $v.podDisruptionBudget.enabled (not $minAvailable) (not $maxUnavailable) }}
{{- fail "single-window: podDisruptionBudget needs minAvailable or maxUnavailable" }}
{{- end }}
{{- end }}

{{/*
The DNS egress rule of a NetworkPolicy.
*/}}
{{- define "single-window.egressDns" -}}
{{- if .Values.networkPolicy.egress.dns.enabled }}
- ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
  {{- with .Values.networkPolicy.egress.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
An egress rule to a port and to the peers given as CIDRs and NetworkPolicyPeer objects (any
destination when there are none). Usage: include "single-window.egressTo" .Values.networkPolicy.egress.database
*/}}
{{- define "single-window.egressTo" -}}
- ports:
    - protocol: TCP
      port: {{ .port }}
  {{- if or .cidrs .to }}
  to:
    {{- range .cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
    {{- with .to }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
{{- end }}

{{/*
The egress rules of the server's NetworkPolicy (empty when nothing is allowed out).
*/}}
{{- define "single-window.serverEgress" -}}
{{- $np := .Values.networkPolicy }}
{{- include "single-window.egressDns" . | trim }}
{{- if include "single-window.postgres" . }}
# PostgreSQL.
{{ include "single-window.egressTo" $np.egress.database | trim }}
{{- end }}
{{- if .Values.otel.endpoint }}
# The OTLP collector.
{{ include "single-window.egressTo" $np.egress.otlp | trim }}
{{- end }}
{{- with $np.egress.extra }}
{{ toYaml . }}
{{- end }}
{{- end }}
