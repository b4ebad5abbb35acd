"""Where the CPU went during a window: each devstack server, the converter pods, this process, the rest.

Per process, user + system seconds; a server's count includes its live descendants and the
children it has waited for (postgres backends, rabbitmq helpers). The node agent's descendants
are the converter pods, counted apart. The machine's busy time (all cores) minus all of that is
work the devstack did not do: other engineers' tests on a shared machine.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

import psutil

from devstack.stack import Stack

PODS = "converter pods"
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


def snapshot(stack: Stack) -> Snapshot:
    snap = Snapshot()
    for server in stack.servers.values():
        for managed in server.processes:
            proc = managed.process()
            if proc is not None:
                _add_tree(snap, server.name, proc)
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
