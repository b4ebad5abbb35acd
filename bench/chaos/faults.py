"""The faults the soak injects, their schedule drawn from a seed (printed, so a run can be replayed),
and the thread that injects them one after another while the workload runs.

Pods are killed as a crash kills them: SIGKILL to the container's process (crictl inspect's pid),
so nothing shuts down cleanly and the kubelet restarts the container. Servers are stopped and
started again by the devstack (``stack[name].stop()``, a pause, ``start()``)."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from common.resources import COMPONENT_LABEL
from devstack.kube import Kube
from devstack.process import wait_until
from devstack.servers.kubernetes import KubeServer
from devstack.servers.node import Containerd, CriCtl, node_ready
from devstack.servers.release import NAMESPACE
from devstack.stack import Stack

POD_KINDS = ("operator", "gateway", "notification", "converter")  # kill -9 of one of its containers
# server restarts: the devstack server names they stop and start again
SERVER_KINDS: dict[str, tuple[str, ...]] = {
    "rabbitmq": ("rabbitmq",),
    "postgres": ("postgres",),  # FerretDB's storage, under a FerretDB that keeps running
    "ferretdb": ("ferretdb",),  # FerretDB and its PostgreSQL together
    "kube-apiserver": ("kube-apiserver",),
    "mariadb": ("mariadb",),
    "smtp": ("smtp",),  # the mail sink refuses (connection refused) for a minute
}
KINDS = (*POD_KINDS, *SERVER_KINDS)
OUTAGE_SECONDS = {"smtp": 60.0}  # the mail sink refuses for a minute; other servers a few seconds
SERVER_OUTAGE = (4.0, 12.0)  # range the other servers' outages are drawn from
RECOVERY_TIMEOUT = 180.0  # seconds a killed pod's Deployment has to be ready again
CONVERTER_WAIT = 30.0  # seconds to wait for a running container to kill
KUBELET_NOTICES = 3.0  # seconds before a killed container's Deployment can be seen unready


@dataclasses.dataclass(frozen=True)
class Fault:
    at: float  # seconds after the soak started
    kind: str
    outage: float  # seconds a server stays down (0 for a pod kill)


@dataclasses.dataclass
class Injected:
    """A fault as it happened: when its effect began and ended (the outage window)."""

    fault: Fault
    started: float = 0.0  # time.time()
    ended: float = 0.0
    target: str = ""  # the pod or servers hit
    skipped: str = ""  # why it could not be injected (no converter was running)
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        return {**fields.pop("fault"), **fields}


def schedule(seed: int, count: int, window: float) -> list[Fault]:
    """``count`` faults in the first ``window`` seconds: every kind once before any twice (in an
    order the seed shuffles), at times the seed draws."""
    rng = random.Random(seed)
    kinds: list[str] = []
    while len(kinds) < count:
        cycle = list(KINDS)
        rng.shuffle(cycle)
        kinds += cycle
    times = sorted(rng.uniform(5.0, max(6.0, window)) for _ in range(count))
    return [
        Fault(round(at, 1), kind, _outage(kind, rng)) for at, kind in zip(times, kinds[:count], strict=True)
    ]


def _outage(kind: str, rng: random.Random) -> float:
    if kind in POD_KINDS:
        return 0.0
    return OUTAGE_SECONDS.get(kind) or round(rng.uniform(*SERVER_OUTAGE), 1)


class Injector:
    """Injects the schedule in a thread, one fault at a time (a fault that starts late because the
    previous one lasted waits for it: outages never overlap, so each is explained by one cause)."""

    def __init__(self, stack: Stack, faults: list[Fault], log: Callable[[str], None]) -> None:
        self.stack, self.faults, self.log = stack, faults, log
        self.done: list[Injected] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = threading.Event()
        self._t0 = 0.0

    def start(self, t0: float) -> None:
        self._t0 = t0
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        kube = Kube.from_kubeconfig(self.stack.cfg.kubeconfig)
        try:
            for fault in self.faults:
                if self._stop.wait(max(0.0, self._t0 + fault.at - time.monotonic())):
                    return
                self.done.append(self._inject(kube, fault))
        finally:
            kube.close()

    def _inject(self, kube: Kube, fault: Fault) -> Injected:
        record = Injected(fault, started=time.time())
        self.log(f"fault {fault.kind} at +{time.monotonic() - self._t0:.0f} s")
        try:
            if fault.kind in POD_KINDS:
                self._kill_pod(kube, fault.kind, record)
            else:
                self._restart(SERVER_KINDS[fault.kind], fault.outage, record)
        except Exception as exc:  # a fault that breaks is reported, the soak goes on
            record.error = f"{type(exc).__name__}: {exc}"
        record.ended = time.time()
        self.log(f"fault {fault.kind} over ({record.target or record.skipped or record.error})")
        return record

    def _restart(self, names: tuple[str, ...], outage: float, record: Injected) -> None:
        record.target = ",".join(names)
        for name in names:
            self.stack[name].stop()
        time.sleep(outage)
        for name in names:
            self.stack[name].start()
        if {"postgres", "ferretdb"} & set(names):
            self.stack.up(["postgres", "ferretdb"])  # FerretDB may not outlive its storage's restart
        # the outage lasts until the node and the release answer again (after the API server's)
        apiserver = self.stack["kube-apiserver"]
        assert isinstance(apiserver, KubeServer)
        wait_until(lambda: node_ready(apiserver), RECOVERY_TIMEOUT, "the node to be Ready again")
        wait_until(self.stack["mp4mp3"].running, RECOVERY_TIMEOUT, "the gateway and auth to answer")

    def _kill_pod(self, kube: Kube, component: str, record: Injected) -> None:
        pod, container_id = self._victim(kube, component)
        if not pod:
            record.skipped = f"no running {component} container within {CONVERTER_WAIT:.0f} s"
            return
        record.target = pod
        pid = container_pid(self.stack, container_id)
        if pid is None:
            record.skipped = f"{pod}'s container exited before the kill"
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended between crictl's answer and the signal (a converter done)
            record.skipped = f"{pod}'s container exited before the kill"
            return
        if component != "converter":
            time.sleep(KUBELET_NOTICES)
            wait_ready(kube, component, RECOVERY_TIMEOUT)

    def _victim(self, kube: Kube, component: str) -> tuple[str, str]:
        """A running pod of the component (the first by name: the same seed kills the same one
        where the pods are the same) and its container's id; empty if none ran in time."""
        deadline = time.monotonic() + CONVERTER_WAIT
        while time.monotonic() < deadline and not self._stop.is_set():
            pods = kube.get(
                f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector=f"{COMPONENT_LABEL}={component}"
            )
            for pod in sorted(pods["items"], key=lambda p: p["metadata"]["name"]):
                for status in (pod.get("status") or {}).get("containerStatuses") or []:
                    if "running" in (status.get("state") or {}) and status.get("containerID"):
                        return pod["metadata"]["name"], status["containerID"].split("://", 1)[-1]
            time.sleep(0.5)
        return "", ""


def container_pid(stack: Stack, container_id: str) -> int | None:
    """The host pid of a running container's first process, from ``crictl inspect``; None if it
    has exited since the API server last said it ran."""
    runtime = stack["containerd"]
    assert isinstance(runtime, Containerd)
    done = subprocess.run(
        CriCtl(runtime).argv("inspect", container_id), capture_output=True, text=True, check=True
    )
    return running_pid(json.loads(done.stdout))


def running_pid(inspected: dict[str, Any]) -> int | None:
    """The pid in ``crictl inspect``'s answer, only for a running container: an exited one says
    pid 0, and kill(0, SIGKILL) would kill the soak's own process group."""
    state = (inspected.get("status") or {}).get("state")
    pid = int((inspected.get("info") or {}).get("pid") or 0)
    return pid if state == "CONTAINER_RUNNING" and pid > 1 else None


def wait_ready(kube: Kube, component: str, timeout: float) -> None:
    """Until the component's Deployment has all its replicas ready again."""
    name = f"mp4mp3-{component}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = kube.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}").get("status") or {}
        if status.get("readyReplicas", 0) >= status.get("replicas", 1) and not status.get(
            "unavailableReplicas"
        ):
            return
        time.sleep(1)
    raise TimeoutError(f"deployment {name} not ready {timeout:.0f} s after the kill")
