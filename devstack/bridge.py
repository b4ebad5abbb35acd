"""The node's bridge (mp4mp3br0 with NODE_IP), made before any server starts so that servers can
bind its address; the machine's state is recorded first (devstack/host.py) and restored when the
node's Bridge server stops."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devstack import host
from devstack.config import Config
from devstack.network import BRIDGE, BRIDGE_ADDRESS


def record_path(cfg: Config) -> Path:
    """Where the machine's state before the first `up` is kept until `down` restores it."""
    return cfg.dir("bridge") / "host-before-up.json"


def containerd_root(cfg: Config) -> Path:
    # images and snapshots survive `make clean-state` and a fresh clone: no re-import of GBs
    return cfg.cache / "containerd"


def node_dirs(cfg: Config) -> list[Path]:
    """Folders the node's mounts can be under: its state (kubelet, containerd) and image store."""
    return [cfg.state, containerd_root(cfg)]


def bridge_up() -> bool:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE], capture_output=True, text=True)
    return out.returncode == 0 and f"inet {BRIDGE_ADDRESS}" in out.stdout


def ensure_bridge(cfg: Config) -> None:
    """The bridge up with its address (idempotent)."""
    if bridge_up():
        return
    host.record(record_path(cfg), node_dirs(cfg))
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "replace", BRIDGE_ADDRESS, "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
    # Service traffic between two pods on this bridge must pass kube-proxy's iptables rules
    host.enable_bridge_netfilter()
