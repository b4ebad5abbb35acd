"""Where the CPU went during a window: each devstack server (the node's kubelet, containerd,
kube-proxy... among them), containerd's shims, the pods on the node by component (the chart's
services, the converter pods), this process, the rest.

Per server process, user + system seconds; a server's count includes its live descendants and the
children it has waited for (postgres backends, rabbitmq helpers, containerd's CNI plugins,
kube-proxy's iptables-restore). Pods are counted by their cgroup, not by their processes: the
kubelet (cgroupfs driver) puts each pod under kubepods[/<qos>]/pod<uid>, and cgroup v1's cpuacct
keeps the usage of every process that ran there, the ones that ended (ffmpeg under the converter)
included. A pod is named by its app.kubernetes.io/component label. Pods that ended between the
snapshots took their cgroup with them; the kubepods cgroup above them still counts their usage
(cpuacct charges every ancestor), so what it counted beyond the pods seen is charged to the
converter pods, the only pods that come and go while a benchmark runs.

containerd-shim-runc-v2 processes (one per pod, parented to init, not to containerd) count their
own CPU only: the children they reap are the containers' processes, already in their pods'
cgroups, and the short runc calls, which therefore end up in ``not the devstack``. The machine's
busy time (all cores) minus all of the above is work the devstack did not do: other engineers'
tests on a shared machine.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devstack.kube import Kube
from devstack.servers.node import our_shims
from devstack.stack import Stack

PODS = "converter pods"
SHIMS = "containerd shims"
BENCH = "bench client"
OTHER = "not the devstack"
# cgroup v1's cpuacct hierarchy (one of these, depending on how the machine mounts it)
CPUACCT_ROOTS = (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/cpu,cpuacct"))
POD_CGROUP = re.compile(r"^pod([0-9a-f_-]{36})$")


@dataclass
class Snapshot:
    processes: dict[tuple[int, float], tuple[str, float]] = field(
        default_factory=dict
    )  # (pid, born) -> (who, s)
    waited: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # who -> children's s
    pods: dict[str, float] = field(default_factory=dict)  # pod uid -> CPU s of its cgroup so far
    components: dict[str, str] = field(default_factory=dict)  # pod uid -> component
    machine_busy: float = 0.0
    own: float = 0.0
    kubepods: float | None = None  # every pod's CPU so far, ended ones included (cgroup accounting)


def snapshot(stack: Stack) -> Snapshot:
    snap = Snapshot()
    for server in stack.servers.values():
        for managed in server.processes:
            proc = managed.process()
            if proc is not None:
                _add_tree(snap, server.name, proc)
    if stack.cfg.node:
        _add_shims(snap, stack)
        snap.pods = pod_seconds()
        snap.components = _pod_components(stack)
        snap.kubepods = _kubepods_seconds()
    times = psutil.cpu_times()
    snap.machine_busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    own = os.times()
    snap.own = own.user + own.system
    return snap


def spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per component between two snapshots, plus the machine's total busy time."""
    out: dict[str, float] = defaultdict(float)
    for key, (who, seconds) in after.processes.items():
        out[who] += seconds - before.processes.get(key, (who, 0.0))[1]  # new processes: all of theirs
    for who, seconds in after.waited.items():
        out[who] += seconds - before.waited.get(who, 0.0)
    for who, seconds in pods_spent(before, after).items():
        out[who] += seconds
    out[BENCH] = after.own - before.own
    busy = after.machine_busy - before.machine_busy
    out[OTHER] = max(0.0, busy - sum(out.values()))
    out["machine busy (all cores)"] = busy
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def pods_spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """The pods' CPU seconds between two snapshots by component ("gateway pods", "converter pods");
    pure: the snapshots' cgroup readings in."""
    components = {**before.components, **after.components}
    out: dict[str, float] = defaultdict(float)
    for uid, seconds in after.pods.items():
        # a pod born in the window: all of its cgroup's usage; a pod's cgroup is never reused
        out[_pod_name(components.get(uid))] += max(0.0, seconds - before.pods.get(uid, 0.0))
    if before.kubepods is not None and after.kubepods is not None:
        ended = after.kubepods - before.kubepods - sum(out.values())
        if ended > 0:  # not below: the cgroups are read one after another, not at one instant
            out[PODS] += ended
    return dict(out)


def pod_seconds(roots: tuple[Path, ...] = CPUACCT_ROOTS) -> dict[str, float]:
    """pod uid -> CPU seconds its cgroup counted so far, for every pod cgroup under kubepods
    (Guaranteed pods sit right under it, the others under besteffort/ or burstable/)."""
    for root in roots:
        kubepods = root / "kubepods"
        if not kubepods.is_dir():
            continue
        found: dict[str, float] = {}
        for usage in [*kubepods.glob("pod*/cpuacct.usage"), *kubepods.glob("*/pod*/cpuacct.usage")]:
            match = POD_CGROUP.match(usage.parent.name)
            if match is None:
                continue
            try:
                found[match.group(1).replace("_", "-")] = int(usage.read_text()) / 1e9
            except (OSError, ValueError):  # the pod's cgroup went while we read it
                continue
        return found
    return {}


def _pod_name(component: str | None) -> str:
    if component == "converter":
        return PODS
    return f"{component or 'unnamed'} pods"


def _add_tree(snap: Snapshot, name: str, root: psutil.Process) -> None:
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in members:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                born = proc.create_time()
        except psutil.Error:
            continue
        snap.processes[(proc.pid, born)] = (name, times.user + times.system)
        snap.waited[name] += times.children_user + times.children_system


def _add_shims(snap: Snapshot, stack: Stack) -> None:
    """containerd's shims: their own CPU only (what they reap is in the pods' cgroups, or runc)."""
    for proc in our_shims(stack.cfg.containerd_socket):
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                born = proc.create_time()
        except psutil.Error:
            continue
        snap.processes[(proc.pid, born)] = (SHIMS, times.user + times.system)


def _pod_components(stack: Stack) -> dict[str, str]:
    """pod uid -> app.kubernetes.io/component (the namespace without one), for every pod."""
    if not stack.cfg.kubeconfig.exists():
        return {}
    kube = Kube.from_kubeconfig(stack.cfg.kubeconfig)
    try:
        pods = kube.get("/api/v1/pods")["items"]
    except Exception:  # no API server, no pods to name: they count as "unnamed pods"
        return {}
    finally:
        kube.close()
    out: dict[str, str] = {}
    for pod in pods:
        meta = pod["metadata"]
        out[meta["uid"]] = (meta.get("labels") or {}).get("app.kubernetes.io/component", meta["namespace"])
    return out


def _kubepods_seconds(roots: tuple[Path, ...] = CPUACCT_ROOTS) -> float | None:
    """CPU seconds of the kubelet's pods cgroup (cgroup v1 cpuacct charges every ancestor, so it
    keeps the usage of pods already gone)."""
    for root in roots:
        try:
            return int((root / "kubepods" / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            continue
    return None
