#!/usr/bin/env bash
# Makes the root filesystem of the project's base image (the local PYTHON_IMAGE of docker/*.Dockerfile):
# Debian bookworm (Python 3.11) minbase with python, pip and venv, as a tarball.
# Usage: base-image.sh MIRROR OUT.tar   (MIRROR: the host's Debian mirror, read by devstack/images.py)
# Apt and pip inside the image are configured from the HOST: its apt sources and Acquire settings,
# its CA bundle and pip settings are copied in at build time and never written into the repository.
set -euo pipefail

PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
SUITE=bookworm
mirror="$1" out="$2"
# apt settings on reaching the mirror (proxy, TLS, snapshot validity); devstack/images.py hashes the same
APT_NETWORK='^Acquire::(https?::|Check-Valid-Until|Check-Date|Retries)'
ca_bundle="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"

log() { printf '[base-image] %s\n' "$*" >&2; }

rootfs="$(mktemp -d "${out%/*}/rootfs.XXXXXX")"
trap 'rm -rf --one-file-system "$rootfs"' EXIT

log "debootstrap --variant=minbase $SUITE from the host's mirror"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" >/dev/null

# apt inside builds reaches the same mirror as the host, with the host's Acquire settings
rm -f "$rootfs/etc/apt/sources.list"
[[ -s /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -f "$f" ]] && cp "$f" "$rootfs/etc/apt/sources.list.d/"
done
for f in /etc/apt/apt.conf.d/*; do
  [[ -f "$f" ]] && grep -Eq "$APT_NETWORK" "$f" && cp "$f" "$rootfs/etc/apt/apt.conf.d/"
done
# like Debian's slim images: later apt installs leave no docs, man pages or translations behind
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/mp4mp3-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
# and no downloaded .deb stays in a layer (what Debian's own container images configure)
cat > "$rootfs/etc/apt/apt.conf.d/mp4mp3-slim" <<'EOF'
APT::Install-Recommends "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF

# TLS inside builds trusts what the host trusts; pip uses the host's settings and that bundle
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
{
  [[ -f /etc/pip.conf ]] && grep -v '^cert *=' /etc/pip.conf || echo "[global]"
  echo "cert = /etc/ssl/certs/ca-certificates.crt"
  [[ -n "${PIP_INDEX_URL:-}" ]] && echo "index-url = $PIP_INDEX_URL"
  [[ -n "${PIP_EXTRA_INDEX_URL:-}" ]] && echo "extra-index-url = $PIP_EXTRA_INDEX_URL"
  true
} > "$rootfs/etc/pip.conf"

find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
  "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old

log "packing $out"
tar --numeric-owner --xattrs -C "$rootfs" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
  -cf "$out.part" .
mv "$out.part" "$out"
