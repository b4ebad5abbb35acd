"""What the devstack's node changes on this machine, recorded before `up` and undone after `down`.

The kubelet sets sysctls (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops), the CNI
bridge plugin turns on IP forwarding, we turn on bridge netfilter (so Service traffic between
pods on one bridge passes kube-proxy's rules); kube-proxy and the CNI plugins add iptables chains;
pods leave veths, mounts and cgroups; containerd, libcni and runc create a few global folders.
`record` saves the machine's values once (the first `up`); `restore` puts them back and removes
only what the node added: KUBE-*/CNI-* chains, our bridge's links, mounts under our folders,
the /kubepods cgroups, and global folders that did not exist before (and are empty now).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import psutil

from devstack.network import BRIDGE

SYSCTLS = (
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
)
# folders outside ours that containerd 1.6 (shim sockets), libcni (its cache) or runc may create
GLOBAL_DIRS = ("/run/containerd", "/var/lib/cni", "/etc/cni", "/run/runc", "/opt/containerd")
CHAIN_PREFIXES = ("KUBE-", "CNI-")
NODE_PROGRAMS = {"containerd", "kubelet", "kube-proxy", "kube-scheduler", "coredns", "metrics-server"}
IPTABLES = ("iptables", "ip6tables")
TABLES = ("filter", "nat", "mangle")
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str | None]:
    """Current values; None for one that does not exist (bridge netfilter not loaded)."""
    values: dict[str, str | None] = {}
    for name in SYSCTLS:
        try:
            values[name] = _sysctl_path(name).read_text().strip()
        except FileNotFoundError:
            values[name] = None
    return values


def br_netfilter_loaded() -> bool:
    """Bridge netfilter present (a module loaded, or built into this machine's kernel)?"""
    return _sysctl_path("net.bridge.bridge-nf-call-iptables").exists()


def snapshot(our_dirs: list[Path]) -> dict[str, object]:
    """What `restore` needs, and the whole footprint as found ("found": what `down` must leave)."""
    return {
        "sysctls": read_sysctls(),
        "br_netfilter": br_netfilter_loaded(),
        "dirs": {d: Path(d).exists() for d in GLOBAL_DIRS},
        "found": footprint(our_dirs),
    }


def footprint(our_dirs: list[Path]) -> dict[str, Any]:
    """What the node can leave on the machine: its programs' processes, our bridge's links, mounts
    under our folders, KUBE-*/CNI-* chains, /kubepods cgroups, the sysctls and global folders."""
    procs = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if cmd and (Path(cmd[0]).name in NODE_PROGRAMS or "containerd-shim" in cmd[0]):
            procs.append(" ".join(cmd))
    return {
        "processes": sorted(procs),
        "links": bridge_links(),
        "mounts": mounts_under(our_dirs),
        "chains": chains(),
        "cgroups": [str(p) for p in kubepods_cgroups()],
        "sysctls": read_sysctls(),
        "dirs": {d: Path(d).exists() for d in GLOBAL_DIRS},
    }


def found(path: Path) -> dict[str, Any] | None:
    """The footprint `record` saw before the node's first `up` (None once `restore` ran)."""
    return json.loads(path.read_text()).get("found") if path.exists() else None


def record(path: Path, our_dirs: list[Path]) -> None:
    """Save the machine's state before the node changes it; kept until `restore` (a second `up`
    after a crash must not record the node's own changes as the machine's)."""
    if not path.exists():
        path.write_text(json.dumps(snapshot(our_dirs), indent=2))


def enable_bridge_netfilter() -> None:
    if not br_netfilter_loaded():
        subprocess.run(["modprobe", "br_netfilter"], check=True, capture_output=True)
    _sysctl_path("net.bridge.bridge-nf-call-iptables").write_text("1\n")


def restore(path: Path, our_dirs: list[Path]) -> None:
    """Undo the node's changes (its processes must be stopped already), then forget the record."""
    remove_iptables_chains()
    remove_links()
    unmount_under(our_dirs)
    remove_cgroups()
    if not path.exists():
        return
    saved = json.loads(path.read_text())
    for name, value in saved["sysctls"].items():
        if value is not None and _sysctl_path(name).exists():
            with contextlib.suppress(OSError):
                _sysctl_path(name).write_text(value + "\n")
    if not saved["br_netfilter"] and br_netfilter_loaded():
        subprocess.run(["modprobe", "-r", "br_netfilter"], capture_output=True)
    for folder, existed in saved["dirs"].items():
        if not existed:
            _remove_empty_tree(Path(folder))
    path.unlink()


def remove_iptables_chains() -> None:
    """Delete every rule that jumps to a KUBE-*/CNI-* chain, then those chains themselves."""
    for tool in IPTABLES:
        for table in TABLES:
            _clean_table(tool, table)


def _clean_table(tool: str, table: str) -> None:
    try:
        dump = subprocess.run([f"{tool}-save", "-t", table], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return
    ours = [
        line[1:].split()[0]
        for line in dump.splitlines()
        if line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES)
    ]
    for line in dump.splitlines():
        parts = shlex.split(line)  # comments are quoted: "kubernetes forwarding rules"
        if _jumps_to_ours(parts):
            subprocess.run([tool, "-t", table, "-D", *parts[1:]], capture_output=True)
    for flag in ("-F", "-X"):
        for chain in ours:
            subprocess.run([tool, "-t", table, flag, chain], capture_output=True)


def _jumps_to_ours(rule: list[str]) -> bool:
    """An iptables-save "-A CHAIN ... -j KUBE-..." line in a chain that is not ours."""
    if len(rule) < 3 or rule[0] != "-A" or rule[1].startswith(CHAIN_PREFIXES) or "-j" not in rule:
        return False
    return rule[rule.index("-j") + 1].startswith(CHAIN_PREFIXES)


def chains() -> list[str]:
    """The KUBE-*/CNI-* chains present now, as tool/table/chain (for the tests)."""
    found = []
    for tool in IPTABLES:
        for table in TABLES:
            try:
                dump = subprocess.run([f"{tool}-save", "-t", table], capture_output=True, text=True).stdout
            except FileNotFoundError:
                continue
            found += [
                f"{tool}/{table}/{line[1:].split()[0]}"
                for line in dump.splitlines()
                if line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES)
            ]
    return found


def bridge_links() -> list[str]:
    """Our bridge and the veths still attached to it."""
    out = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True, text=True)
    links = [line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines() if ":" in line]
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        links.append(BRIDGE)
    return links


def remove_links() -> None:
    for link in bridge_links():
        subprocess.run(["ip", "link", "delete", link], capture_output=True)


def mounts_under(dirs: list[Path]) -> list[str]:
    roots = [str(d.resolve()) for d in dirs]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == r or point.startswith(r + "/") for r in roots):
            points.append(point)
    return points


def unmount_under(dirs: list[Path]) -> None:
    """Unmount (lazily) whatever the kubelet and containerd left mounted below our folders."""
    for point in sorted(set(mounts_under(dirs)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def kubepods_cgroups() -> list[Path]:
    if not CGROUP_ROOT.exists():
        return []
    return [p for p in CGROUP_ROOT.glob(f"*/{KUBEPODS}") if p.is_dir()]


def remove_cgroups() -> None:
    """rmdir the /kubepods trees, deepest first (a cgroup goes only when empty of processes)."""
    for top in kubepods_cgroups():
        for cgroup in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                cgroup.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _remove_empty_tree(folder: Path) -> None:
    """Remove folders (and dead sockets) below `folder` and itself, keeping any regular file."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            if path.is_socket():
                path.unlink()
            elif path.is_dir() and not path.is_symlink():
                path.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()
