{{/*
Names, labels, images and the connection Secrets every template shares.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "mp4mp3.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object's name: fullnameOverride, else the release name when it already holds
the chart's name ("mp4mp3" -> mp4mp3-gateway, the devstack's names), else "<release>-<chart>".
*/}}
{{- define "mp4mp3.fullname" -}}
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

{{/* The name of one component's objects: include "mp4mp3.componentName" (list $ "gateway") */}}
{{- define "mp4mp3.componentName" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" (include "mp4mp3.fullname" $ctx | trunc 50 | trimSuffix "-") (index . 1) -}}
{{- end -}}

{{- define "mp4mp3.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select one component's pods: include "mp4mp3.selectorLabels" (list $ "gateway") */}}
{{- define "mp4mp3.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ include "mp4mp3.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Every object's labels: include "mp4mp3.labels" (list $ "gateway") */}}
{{- define "mp4mp3.labels" -}}
{{- $ctx := index . 0 -}}
{{ include "mp4mp3.selectorLabels" . }}
app.kubernetes.io/part-of: mp4mp3
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
helm.sh/chart: {{ include "mp4mp3.chart" $ctx }}
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
One of our images: include "mp4mp3.image" (list $ .Values.gateway.image)
registry prefix (image.registry) + repository + tag (the component's, else image.tag, else appVersion).
*/}}
{{- define "mp4mp3.image" -}}
{{- $ctx := index . 0 -}}
{{- $image := index . 1 -}}
{{- $tag := $image.tag | default $ctx.Values.image.tag | default $ctx.Chart.AppVersion -}}
{{- if $ctx.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $ctx.Values.image.registry) $image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* A third-party image (bundled servers): include "mp4mp3.thirdPartyImage" .Values.mongodb.image */}}
{{- define "mp4mp3.thirdPartyImage" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* imagePullSecrets, indented, on new lines; nothing without any: include "mp4mp3.imagePullSecrets" (list $ 6) */}}
{{- define "mp4mp3.imagePullSecrets" -}}
{{- $ctx := index . 0 -}}
{{- with $ctx.Values.image.pullSecrets }}
{{- $block := dict "imagePullSecrets" list -}}
{{- range . }}
{{- $_ := set $block "imagePullSecrets" (append $block.imagePullSecrets (dict "name" .)) -}}
{{- end }}
{{- toYaml $block | nindent (index $ 1) }}
{{- end }}
{{- end -}}

{{/* The ServiceAccount of a component: include "mp4mp3.serviceAccountName" (list $ "operator") */}}
{{- define "mp4mp3.serviceAccountName" -}}
{{- include "mp4mp3.componentName" . -}}
{{- end -}}

{{/* Where users reach the gateway: publicUrl, else the ingress host, else a port-forward. */}}
{{- define "mp4mp3.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- trimSuffix "/" .Values.publicUrl -}}
{{- else if .Values.gateway.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.gateway.ingress.tls.enabled) .Values.gateway.ingress.host -}}
{{- else -}}
http://localhost:8080
{{- end -}}
{{- end -}}

{{/*
A Secret's value that must survive upgrades: the value given in values, else the one already in
the cluster's Secret (lookup; empty under `helm template`), else a new random one.
include "mp4mp3.persistentSecretValue" (dict "ctx" $ "secret" NAME "key" KEY "value" GIVEN)
*/}}
{{- define "mp4mp3.persistentSecretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret | default dict -}}
{{- $old := dig "data" .key "" $existing -}}
{{- if $old -}}
{{- $old | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ---- connection Secrets: the name and key holding each data service's URL ---- */}}

{{- define "mp4mp3.mongodb.uriSecretName" -}}
{{- if .Values.mongodb.enabled -}}
{{- .Values.mongodb.auth.existingSecret | default (include "mp4mp3.componentName" (list . "mongodb")) -}}
{{- else -}}
{{- .Values.externalMongodb.existingSecret | default (include "mp4mp3.componentName" (list . "external-mongodb")) -}}
{{- end -}}
{{- end -}}

{{- define "mp4mp3.mongodb.uriSecretKey" -}}
{{- if and (not .Values.mongodb.enabled) .Values.externalMongodb.existingSecret -}}
{{- .Values.externalMongodb.existingSecretKey -}}
{{- else -}}
mongodb-uri
{{- end -}}
{{- end -}}

{{- define "mp4mp3.rabbitmq.urlSecretName" -}}
{{- if .Values.rabbitmq.enabled -}}
{{- .Values.rabbitmq.auth.existingSecret | default (include "mp4mp3.componentName" (list . "rabbitmq")) -}}
{{- else -}}
{{- .Values.externalRabbitmq.existingSecret | default (include "mp4mp3.componentName" (list . "external-rabbitmq")) -}}
{{- end -}}
{{- end -}}

{{- define "mp4mp3.rabbitmq.urlSecretKey" -}}
{{- if and (not .Values.rabbitmq.enabled) .Values.externalRabbitmq.existingSecret -}}
{{- .Values.externalRabbitmq.existingSecretKey -}}
{{- else -}}
amqp-url
{{- end -}}
{{- end -}}

{{- define "mp4mp3.mysql.urlSecretName" -}}
{{- if .Values.mysql.enabled -}}
{{- .Values.mysql.auth.existingSecret | default (include "mp4mp3.componentName" (list . "mysql")) -}}
{{- else -}}
{{- .Values.externalMysql.existingSecret | default (include "mp4mp3.componentName" (list . "external-mysql")) -}}
{{- end -}}
{{- end -}}

{{- define "mp4mp3.mysql.urlSecretKey" -}}
{{- if and (not .Values.mysql.enabled) .Values.externalMysql.existingSecret -}}
{{- .Values.externalMysql.existingSecretKey -}}
{{- else -}}
mysql-url
{{- end -}}
{{- end -}}

{{/* env entries for the data services' URLs: include "mp4mp3.env.mongodb" (list $ "GATEWAY_MONGO_URI") */}}
{{- define "mp4mp3.env.mongodb" -}}
{{- $ctx := index . 0 -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "mp4mp3.mongodb.uriSecretName" $ctx }}
      key: {{ include "mp4mp3.mongodb.uriSecretKey" $ctx }}
{{- end -}}

{{- define "mp4mp3.env.rabbitmq" -}}
{{- $ctx := index . 0 -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "mp4mp3.rabbitmq.urlSecretName" $ctx }}
      key: {{ include "mp4mp3.rabbitmq.urlSecretKey" $ctx }}
{{- end -}}

{{- define "mp4mp3.env.mysql" -}}
{{- $ctx := index . 0 -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "mp4mp3.mysql.urlSecretName" $ctx }}
      key: {{ include "mp4mp3.mysql.urlSecretKey" $ctx }}
{{- end -}}

{{/* The pod-level fields every component shares: include "mp4mp3.podScheduling" .Values.gateway */}}
{{- define "mp4mp3.podScheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Fail the render with a message saying which value to set. */}}
{{- define "mp4mp3.validate" -}}
{{- if and (not .Values.mongodb.enabled) (not .Values.externalMongodb.uri) (not .Values.externalMongodb.existingSecret) -}}
{{- fail "mongodb.enabled=false: set externalMongodb.uri or externalMongodb.existingSecret" -}}
{{- end -}}
{{- if and (not .Values.rabbitmq.enabled) (not .Values.externalRabbitmq.url) (not .Values.externalRabbitmq.existingSecret) -}}
{{- fail "rabbitmq.enabled=false: set externalRabbitmq.url or externalRabbitmq.existingSecret" -}}
{{- end -}}
{{- if and (not .Values.mysql.enabled) (not .Values.externalMysql.url) (not .Values.externalMysql.existingSecret) -}}
{{- fail "mysql.enabled=false: set externalMysql.url or externalMysql.existingSecret" -}}
{{- end -}}
{{- if and (not .Values.mailpit.enabled) (not .Values.notification.smtp.host) -}}
{{- fail "mailpit.enabled=false: set notification.smtp.host (your SMTP server)" -}}
{{- end -}}
{{- if and .Values.gateway.ingress.enabled (not .Values.gateway.ingress.host) -}}
{{- fail "gateway.ingress.enabled=true: set gateway.ingress.host" -}}
{{- end -}}
{{- end -}}

{{/* Percent-encode a URL's user or password (a space as %20, which every client decodes). */}}
{{- define "mp4mp3.urlEscape" -}}
{{- urlquery . | replace "+" "%20" -}}
{{- end -}}

{{/* Security context of the bundled servers' pods: the official images' own unprivileged user (999). */}}
{{- define "mp4mp3.bundledPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mp4mp3.bundledContainerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* The PVC template of a bundled server: include "mp4mp3.dataVolumeClaim" .Values.mongodb.persistence */}}
{{- define "mp4mp3.dataVolumeClaim" -}}
- metadata:
    name: data
  spec:
    accessModes: [ReadWriteOnce]
    {{- with .storageClass }}
    storageClassName: {{ . | quote }}
    {{- end }}
    resources:
      requests:
        storage: {{ .size }}
{{- end -}}

{{/*
A NetworkPolicy letting only some components reach one component's ports:
include "mp4mp3.networkPolicy" (dict "ctx" $ "component" "mongodb" "ports" (list 27017) "from" (list "gateway" "operator"))
"from" names our components; "converter" means the operator's converter Job pods (labelled by
the operator), "test" the helm test pods. An empty "ports" list denies all ingress.
*/}}
{{- define "mp4mp3.networkPolicy" -}}
{{- $ctx := .ctx -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "mp4mp3.componentName" (list $ctx .component) }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "mp4mp3.labels" (list $ctx .component) | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- if eq .component "converter" }}
      app.kubernetes.io/component: converter
      app.kubernetes.io/managed-by: mp4mp3-operator
      {{- else }}
      {{- include "mp4mp3.selectorLabels" (list $ctx .component) | nindent 6 }}
      {{- end }}
  policyTypes: [Ingress]
  {{- if .ports }}
  ingress:
    - ports:
        {{- range .ports }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
      {{- if .from }}
      from:
        {{- range .from }}
        {{- if eq . "converter" }}
        - podSelector:
            matchLabels:
              app.kubernetes.io/component: converter
              app.kubernetes.io/managed-by: mp4mp3-operator
        {{- else if eq . "ingress-controller" }}
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ $ctx.Values.networkPolicy.ingressControllerNamespace }}
        {{- else }}
        - podSelector:
            matchLabels:
              {{- include "mp4mp3.selectorLabels" (list $ctx .) | nindent 14 }}
        {{- end }}
        {{- end }}
      {{- end }}
  {{- else }}
  ingress: []
  {{- end }}
{{- end -}}

{{/* The pod spec of a helm test: include "mp4mp3.testPod" (dict "ctx" $ "name" "gateway" "script" CODE "args" (list URL)) */}}
{{- define "mp4mp3.testPod" -}}
{{- $ctx := .ctx -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "mp4mp3.componentName" (list $ctx (printf "test-%s" .name)) }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "mp4mp3.labels" (list $ctx "test") | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- include "mp4mp3.imagePullSecrets" (list $ctx 2) }}
  securityContext:
    {{- toYaml $ctx.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: check
      # the gateway's image: it has Python, and the chart's users have it already
      image: {{ include "mp4mp3.image" (list $ctx $ctx.Values.gateway.image) }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      command: [python, -c]
      args:
        - |
          {{- .script | nindent 10 }}
        {{- range .args }}
        - {{ . | quote }}
        {{- end }}
      resources:
        requests:
          cpu: 10m
          memory: 32Mi
        limits:
          memory: 64Mi
      securityContext:
        {{- toYaml $ctx.Values.containerSecurityContext | nindent 8 }}
{{- end -}}

{{/*
The converter's scratch emptyDir, sized from the one value that bounds it: the largest upload the
gateway accepts (gateway.maxUploadBytes). The work dir holds the video and the MP3 made from it;
twice the upload (an MP3 as large as its video) plus 256 MiB of slack, in MiB rounded up, so an
accepted upload always fits where it is converted.
  include "mp4mp3.converter.workDirSizeLimit" .   ->  e.g. "8448Mi" for 4 GiB uploads
*/}}
{{- define "mp4mp3.converter.workDirSizeLimit" -}}
{{- $mib := div (add (int64 .Values.gateway.maxUploadBytes) 1048575) 1048576 -}}
{{- printf "%dMi" (add (mul 2 $mib) 256) -}}
{{- end -}}

{{/*
A HorizontalPodAutoscaler on CPU for one of our Deployments, when its autoscaling is enabled:
include "mp4mp3.hpa" (list $ "gateway")
*/}}
{{- define "mp4mp3.hpa" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- $scaling := (index $ctx.Values $component).autoscaling -}}
{{- if $scaling.enabled }}
{{- if gt (int $scaling.minReplicas) (int $scaling.maxReplicas) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) exceeds maxReplicas (%v)" $component $scaling.minReplicas $scaling.maxReplicas) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "mp4mp3.componentName" (list $ctx $component) }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "mp4mp3.labels" (list $ctx $component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "mp4mp3.componentName" (list $ctx $component) }}
  minReplicas: {{ $scaling.minReplicas }}
  maxReplicas: {{ $scaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $scaling.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ $scaling.scaleDownStabilizationSeconds }}
{{- end }}
{{- end -}}

{{/*
The Service in front of a component's Prometheus /metrics port (operator, notification):
include "mp4mp3.metricsService" (list $ "operator")
*/}}
{{- define "mp4mp3.metricsService" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- $metrics := (index $ctx.Values $component).metrics -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "mp4mp3.componentName" (list $ctx (printf "%s-metrics" $component)) }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "mp4mp3.labels" (list $ctx $component) | nindent 4 }}
    mp4mp3.io/metrics: "true"
spec:
  type: {{ $metrics.service.type }}
  selector:
    {{- include "mp4mp3.selectorLabels" (list $ctx $component) | nindent 4 }}
  ports:
    - name: metrics
      port: {{ $metrics.port }}
      targetPort: metrics
      protocol: TCP
      {{- if and (eq $metrics.service.type "NodePort") $metrics.service.nodePort }}
      nodePort: {{ $metrics.service.nodePort }}
      {{- end }}
{{- end -}}
