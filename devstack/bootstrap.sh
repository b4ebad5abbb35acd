#!/usr/bin/env bash
# Installs everything mp4mp3 needs on a fresh machine, idempotently:
# Debian packages, the Python virtualenv (.venv, pinned by constraints.txt) and the Go builds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MP4MP3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mp4mp3}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE/pip}"
# the real node: containerd + runc run pods, CNI plugins wire them to the bridge, buildah builds
# images (debootstrap for their base), iptables + conntrack for kube-proxy, tmux for the demo;
# chromium + its driver for the web page's browser tests (Selenium drives them)
APT_PACKAGES=(rabbitmq-server mariadb-server mariadb-client postgresql ffmpeg util-linux lame
  containerd runc containernetworking-plugins buildah debootstrap iptables conntrack tmux
  chromium chromium-driver)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return
  log "installing Debian packages: ${missing[*]}"
  local sudo=""; ((EUID == 0)) || sudo="sudo"
  $sudo apt-get update -qq
  # Debian's maintainer scripts would start system copies of the servers; the devstack runs its own.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

UV_VERSION=0.13.8  # makes the venv from its cache in seconds (pip: about 45 s with its wheel cache)

# one of pip's settings (its config files or PIP_* variables) as this machine has it: uv reads
# neither, so it is told the same index, links and CA bundle at run time
pip_setting() {
  sed -n "s/^[^.]*\.$1='\(.*\)'\$/\1/p" <<<"$PIP_CONFIG" | tail -1
}

uv_install() {
  local tool="$CACHE/uv-$UV_VERSION" v PIP_CONFIG
  if [[ ! -x "$tool/bin/uv" ]]; then
    rm -rf "$tool.partial"
    python3 -m pip install -q --disable-pip-version-check --target "$tool.partial" "uv==$UV_VERSION" || return 1
    mv "$tool.partial" "$tool"
  fi
  local env=(UV_CACHE_DIR="$CACHE/uv" UV_PYTHON_DOWNLOADS=never)
  PIP_CONFIG=$(python3 -m pip config list 2>/dev/null || true)
  v=$(pip_setting index-url); [[ -z "$v" ]] || env+=(UV_DEFAULT_INDEX="$v")
  v=$(pip_setting extra-index-url); [[ -z "$v" ]] || env+=(UV_INDEX="$v")
  v=$(pip_setting find-links); [[ -z "$v" ]] || env+=(UV_FIND_LINKS="$v")
  v=$(pip_setting cert); [[ -z "$v" ]] || env+=(SSL_CERT_FILE="$v")
  env "${env[@]}" "$tool/bin/uv" venv -q --allow-existing --python python3 "$ROOT/.venv" &&
    env "${env[@]}" "$tool/bin/uv" pip install -q --python "$ROOT/.venv/bin/python" \
      -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
}

pip_install() {
  [[ -x "$ROOT/.venv/bin/pip" ]] || python3 -m venv --clear "$ROOT/.venv"
  "$ROOT/.venv/bin/pip" install -q --upgrade pip
  "$ROOT/.venv/bin/pip" install -q -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
}

python_env() {
  local stamp="$ROOT/.venv/.mp4mp3-installed" want
  # the editable install maps the packages that exist when it runs: a new package re-installs
  want=$( (cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt"; ls -d "$ROOT"/*/__init__.py) | sha256sum | cut -c1-16)
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return
  log "installing Python packages into .venv (pinned by constraints.txt)"
  uv_install || { log "uv could not make the venv (above): pip makes it"; pip_install; }
  echo "$want" > "$stamp"
}

# the stack that runs the node (the default one) runs the project's images: build them (only what
# changed) while the Go builds run, since those are CPU-bound and the base image's debootstrap and
# the images' pip installs mostly wait on downloads and disk
node_stack() {
  "$ROOT/.venv/bin/python" -c 'import sys; from devstack.config import Config; sys.exit(0 if Config.from_env().node else 1)'
}

apt_packages
python_env
if node_stack; then
  "$ROOT/.venv/bin/python" -m devstack images --no-load --no-report &
  images=$!
  "$ROOT/devstack/build.sh"
  wait "$images" || { log "the images failed to build (above)"; exit 1; }
else
  "$ROOT/devstack/build.sh"
fi
log "ready"
