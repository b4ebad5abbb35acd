"""Where the CPU went during a window: each devstack server, the pods on the node (by component:
the chart's services, the converter pods), this process, the rest.

Per process, user + system seconds; a server's count includes its live descendants and the
children it has waited for (postgres backends, rabbitmq helpers). A container's processes are
found by their cgroup (the kubelet puts each pod under kubepods/.../pod<uid>) and named by their
pod's app.kubernetes.io/component label. The machine's busy time (all cores) minus all of that is
work the devstack did not do: other engineers' tests on a shared machine.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devstack.kube import Kube
from devstack.stack import Stack

PODS = "converter pods"
POD_CGROUP = re.compile(r"/kubepods/(?:[a-z]+/)?pod([0-9a-f_-]{36})/")
NODE_AGENT = "node-agent"
BENCH = "bench client"
OTHER = "not the devstack"


@dataclass
class Snapshot:
    processes: dict[tuple[int, float], tuple[str, float]] = field(
        default_factory=dict
    )  # (pid, born) -> (who, s)
    waited: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # who -> children's s
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
    _add_pods(snap, stack)
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
    if before.kubepods is not None and after.kubepods is not None:
        # converter pods come and go between snapshots: theirs is what the pods' cgroup counted
        # beyond the long-lived pods seen as processes
        others = sum(v for k, v in out.items() if k.endswith(" pods") and k != PODS)
        out[PODS] = max(out.get(PODS, 0.0), after.kubepods - before.kubepods - others)
    out[BENCH] = after.own - before.own
    busy = after.machine_busy - before.machine_busy
    out[OTHER] = max(0.0, busy - sum(out.values()))
    out["machine busy (all cores)"] = busy
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


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
        who = PODS if name == NODE_AGENT and proc.pid != root.pid else name
        snap.processes[(proc.pid, born)] = (who, times.user + times.system)
        # children that ended and were waited for: the agent's are pods, a server's are its own
        snap.waited[PODS if name == NODE_AGENT else name] += times.children_user + times.children_system


def _add_pods(snap: Snapshot, stack: Stack) -> None:
    """The processes of the node's containers, each under its pod's component ("gateway pods")."""
    components = _pod_components(stack)
    if not components:
        return
    for proc in psutil.process_iter():
        uid = _pod_uid(proc.pid)
        if uid is None:
            continue
        component = components.get(uid, "other")
        who = PODS if component == "converter" else f"{component} pods"
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                born = proc.create_time()
        except psutil.Error:
            continue
        snap.processes[(proc.pid, born)] = (who, times.user + times.system)
        snap.waited[who] += times.children_user + times.children_system  # ffmpeg under the converter


def _pod_components(stack: Stack) -> dict[str, str]:
    """pod uid (as in its cgroup path) -> app.kubernetes.io/component, for every pod on the node."""
    if not stack.cfg.kubeconfig.exists():
        return {}
    kube = Kube.from_kubeconfig(stack.cfg.kubeconfig)
    try:
        pods = kube.get("/api/v1/pods")["items"]
    except Exception:  # no API server, no pods to name
        return {}
    finally:
        kube.close()
    out: dict[str, str] = {}
    for pod in pods:
        meta = pod["metadata"]
        component = (meta.get("labels") or {}).get("app.kubernetes.io/component", meta["namespace"])
        # the systemd cgroup driver writes the uid with underscores, cgroupfs with dashes
        out[meta["uid"]] = out[meta["uid"].replace("-", "_")] = component
    return out


def _kubepods_seconds() -> float | None:
    """CPU seconds of the kubelet's pods cgroup (cgroup v1 cpuacct charges every ancestor, so it
    keeps the usage of pods already gone)."""
    for root in ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"):
        usage = Path(root) / "kubepods" / "cpuacct.usage"
        try:
            return int(usage.read_text()) / 1e9
        except (OSError, ValueError):
            continue
    return None


def _pod_uid(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    found = POD_CGROUP.search(text)
    return found.group(1) if found else None
