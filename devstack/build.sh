#!/usr/bin/env bash
# Builds the devstack's Go servers once, cached by version outside the repo.
#   devstack/build.sh [kubernetes|etcd|ferretdb|helm|coredns|crictl|k9s|metrics-server|kueue|pause ...]   (default: all)
# Each wrapper module under devstack/go/ pins one release; the binaries land in
# $MP4MP3_CACHE/<name>-<version>/ and a second run only checks they are there.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${MP4MP3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mp4mp3}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

log() { printf '[build] %s\n' "$*" >&2; }

# version MODULE_DIR MODULE_PATH -> "<version>-<hash>": the release the wrapper's go.mod requires,
# plus a digest of the wrapper itself, so that a changed wrapper never reuses a stale binary
version() {
  local v h
  v=$(cd "$1" && go list -m -f '{{.Version}}' "$2")
  h=$(cat "$1"/go.mod "$1"/go.sum "$1"/*.go "$1"/*.ldflags 2>/dev/null | sha256sum | cut -c1-8)
  echo "$v-$h"
}

# build_tools NAME VERSION MODULE_DIR LDFLAGS PKG...
build_tools() {
  local name=$1 ver=$2 dir=$3 ldflags=$4; shift 4
  local out="$CACHE/$name-$ver" pkg bin missing=()
  for pkg in "$@"; do
    bin="$out/$(basename "$pkg")"
    [[ -x "$bin" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "$name $ver: cached in $out"
    return
  fi
  mkdir -p "$out"
  local names=() start=$SECONDS tmp="$out/.building"
  for pkg in "${missing[@]}"; do names+=("$(basename "$pkg")"); done
  log "$name $ver: building ${names[*]} (cold builds take minutes)..."
  # one `go build` for all of them: their shared packages compile once, and one binary's link
  # (single-threaded) overlaps another's compile instead of idling the other core
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "${missing[@]}")
  for bin in "${names[@]}"; do mv "$tmp/$bin" "$out/$bin"; done
  rmdir "$tmp"
  log "$name $ver: ${names[*]} built in $((SECONDS - start)) s"
}

kubernetes() {
  local dir="$HERE/go/kubernetes" ver
  ver=$(version "$dir" k8s.io/kubernetes)
  local release=${ver%-*}
  local minor=${release#v1.}; minor=${minor%%.*}
  local ld="" v
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $v.gitVersion=$release -X $v.gitMajor=1 -X $v.gitMinor=$minor"
    ld+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  done
  build_tools kubernetes "$ver" "$dir" "$ld" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-proxy \
    k8s.io/kubernetes/cmd/kubelet
}

etcd() {
  local dir="$HERE/go/etcd"
  build_tools etcd "$(version "$dir" go.etcd.io/etcd/server/v3)" "$dir" "" mp4mp3.dev/devstack/etcd
}

ferretdb() {
  local dir="$HERE/go/ferretdb"
  build_tools ferretdb "$(version "$dir" github.com/FerretDB/FerretDB)" "$dir" "" \
    mp4mp3.dev/devstack/ferretdb
}

helm() {
  local dir="$HERE/go/helm"
  # the release and the Kubernetes version it templates for by default (as helm's Makefile sets)
  build_tools helm "$(version "$dir" helm.sh/helm/v3)" "$dir" "$(cat "$dir/build.ldflags")" \
    helm.sh/helm/v3/cmd/helm
}

coredns() {
  local dir="$HERE/go/coredns"
  build_tools coredns "$(version "$dir" github.com/coredns/coredns)" "$dir" "" github.com/coredns/coredns
}

crictl() {
  local dir="$HERE/go/crictl"
  build_tools crictl "$(version "$dir" sigs.k8s.io/cri-tools)" "$dir" "" sigs.k8s.io/cri-tools/cmd/crictl
}

k9s() {
  local dir="$HERE/go/k9s"
  # the release it reports (its Makefile sets it the same way)
  build_tools k9s "$(version "$dir" github.com/derailed/k9s)" "$dir" "$(cat "$dir/build.ldflags")" \
    github.com/derailed/k9s
}

metrics_server() {
  local dir="$HERE/go/metrics-server"
  build_tools metrics-server "$(version "$dir" sigs.k8s.io/metrics-server)" "$dir" "" \
    sigs.k8s.io/metrics-server/cmd/metrics-server
}

kueue() {
  local dir="$HERE/go/kueue" ver out
  ver=$(version "$dir" sigs.k8s.io/kueue)
  build_tools kueue "$ver" "$dir" "" sigs.k8s.io/kueue/cmd/kueue
  # its Helm chart, from which the devstack takes its CRDs, role and webhooks (devstack/servers/kueue.py)
  out="$CACHE/kueue-$ver"
  if [[ ! -f "$out/chart/Chart.yaml" ]]; then
    local src
    src=$(cd "$dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)
    rm -rf "$out/chart.tmp" && cp -r "$src/charts/kueue" "$out/chart.tmp" && chmod -R u+w "$out/chart.tmp"
    mv "$out/chart.tmp" "$out/chart"
  fi
}

pause() {
  local dir="$HERE/go/pause" h
  h=$(cat "$dir"/go.mod "$dir"/*.go | sha256sum | cut -c1-8)
  build_tools pause "$h" "$dir" "" mp4mp3.dev/devstack/pause
}

# paths: prints NAME=DIR lines for the devstack to source
paths() {
  echo "KUBERNETES_BIN=$CACHE/kubernetes-$(version "$HERE/go/kubernetes" k8s.io/kubernetes)"
  echo "ETCD_BIN=$CACHE/etcd-$(version "$HERE/go/etcd" go.etcd.io/etcd/server/v3)"
  echo "FERRETDB_BIN=$CACHE/ferretdb-$(version "$HERE/go/ferretdb" github.com/FerretDB/FerretDB)"
  echo "HELM_BIN=$CACHE/helm-$(version "$HERE/go/helm" helm.sh/helm/v3)"
  echo "K9S_BIN=$CACHE/k9s-$(version "$HERE/go/k9s" github.com/derailed/k9s)"
  echo "COREDNS_BIN=$CACHE/coredns-$(version "$HERE/go/coredns" github.com/coredns/coredns)"
  echo "CRICTL_BIN=$CACHE/crictl-$(version "$HERE/go/crictl" sigs.k8s.io/cri-tools)"
  echo "KUEUE_BIN=$CACHE/kueue-$(version "$HERE/go/kueue" sigs.k8s.io/kueue)"
  echo "METRICS_SERVER_BIN=$CACHE/metrics-server-$(version "$HERE/go/metrics-server" sigs.k8s.io/metrics-server)"
  echo "PAUSE_BIN=$CACHE/pause-$(cat "$HERE"/go/pause/go.mod "$HERE"/go/pause/*.go | sha256sum | cut -c1-8)"
}

targets=("$@")
((${#targets[@]})) || targets=(etcd ferretdb helm kubernetes crictl coredns k9s metrics-server kueue pause)
for t in "${targets[@]}"; do
  case $t in
    kubernetes|etcd|ferretdb|helm|coredns|crictl|k9s|kueue|pause|paths) "$t" ;;
    metrics-server) metrics_server ;;
    *) log "unknown target: $t"; exit 2 ;;
  esac
done
