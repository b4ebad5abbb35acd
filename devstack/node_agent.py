"""The devstack's node agent: a small, honest stand-in for kube-scheduler + kubelet.

It registers one Node, binds unscheduled Pods to it (within the node's CPU), and runs each Pod's
containers as **local processes, not containers**: the image is ignored, ``command`` + ``args``
run with the Pod's env, its service-account token is bind-mounted at the usual path in a private
mount namespace (so in-cluster config and RBAC are real), and the Pod's status is reported the
way the Job controller reads it (phase, exit code, reason, termination message). Deleting a Pod
kills its process group. The real Job controller and garbage collector do everything else.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import queue
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import node_logs
from devstack.kube import STRATEGIC_PATCH, ApiError, Kube
from devstack.process import ManagedProcess

log = logging.getLogger("node-agent")

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
TERMINATION_MESSAGE_LIMIT = 4096
TOKEN_SECONDS = 3600
HEARTBEAT_SECONDS = 20
SCHEDULER = "default-scheduler"
RESTART_BACKOFF = (1, 2, 5, 10, 20)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cpu_millis(quantity: str | None) -> int:
    if not quantity:
        return 0
    quantity = str(quantity)
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return int(float(quantity) * 1000)


def pod_cpu_request(pod: dict[str, Any]) -> int:
    containers = pod["spec"].get("containers", [])
    total = sum(cpu_millis(c.get("resources", {}).get("requests", {}).get("cpu")) for c in containers)
    init = [
        cpu_millis(c.get("resources", {}).get("requests", {}).get("cpu"))
        for c in pod["spec"].get("initContainers", [])
    ]
    return max([total, *init])


def pod_key(pod: dict[str, Any]) -> str:
    meta = pod["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


@dataclass
class ContainerResult:
    exit_code: int
    started: str
    finished: str
    message: str = ""
    restarts: int = 0

    @property
    def reason(self) -> str:
        return "Completed" if self.exit_code == 0 else "Error"


@dataclass
class PodRun:
    """One Pod's life on this node, driven by its own thread."""

    pod: dict[str, Any]
    agent: Agent
    folder: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    grace: float = 30.0
    current: ManagedProcess | None = None
    thread: threading.Thread | None = None

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    @property
    def path(self) -> str:
        meta = self.pod["metadata"]
        return f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"pod-{pod_key(self.pod)}", daemon=True)
        self.thread.start()

    def kill(self, grace: float) -> None:
        self.grace = grace
        self.cancel.set()
        proc = self.current
        if proc is not None:
            threading.Thread(target=proc.stop, kwargs={"timeout": grace}, daemon=True).start()

    # -- the pod's life ------------------------------------------------------------------------

    def _run(self) -> None:
        key = pod_key(self.pod)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            env_base, mounts = self._prepare()
            results = self._run_init_containers(env_base, mounts)
            if results is not None:
                results.update(self._run_containers(env_base, mounts))
                self._report_terminal(results)
        except Exception as exc:  # the pod fails, the agent carries on
            log.exception("pod=%s event=agent-error", key)
            self._report_failed_to_start(str(exc))
        finally:
            self.agent.finished(self)

    def _prepare(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        spec = self.pod["spec"]
        env = {
            "PATH": f"{self.agent.path_prefix}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.folder),
            "LANG": "C.UTF-8",
            "HOSTNAME": self.pod["metadata"]["name"],
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.agent.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.agent.api_port),
        }
        mounts: list[tuple[str, str]] = []
        if spec.get("automountServiceAccountToken", True) and spec.get("serviceAccountName"):
            sa_dir = self.folder / "serviceaccount"
            sa_dir.mkdir(exist_ok=True)
            (sa_dir / "token").write_text(self._token(spec["serviceAccountName"]))
            shutil.copy(self.agent.ca, sa_dir / "ca.crt")
            (sa_dir / "namespace").write_text(self.pod["metadata"]["namespace"])
            mounts.append((str(sa_dir), SA_MOUNT))
        return env, mounts

    def _token(self, service_account: str) -> str:
        namespace = self.pod["metadata"]["namespace"]
        return self.agent.kube.service_account_token(namespace, service_account, TOKEN_SECONDS, self.pod)

    def _run_init_containers(
        self, env: dict[str, str], mounts: list[tuple[str, str]]
    ) -> dict[str, ContainerResult] | None:
        results: dict[str, ContainerResult] = {}
        for container in self.pod["spec"].get("initContainers", []):
            result = self._run_one(container, env, mounts)
            results[container["name"]] = result
            if result.exit_code != 0:
                self._report_terminal(results, init_failed=True)
                return None
        return results

    def _run_containers(
        self, env: dict[str, str], mounts: list[tuple[str, str]]
    ) -> dict[str, ContainerResult]:
        # Containers of one pod run one after another in this thread; our pods have one container.
        policy = self.pod["spec"].get("restartPolicy", "Always")
        results: dict[str, ContainerResult] = {}
        for container in self.pod["spec"]["containers"]:
            restarts = 0
            while True:
                self._report_running(container, restarts)
                result = self._run_one(container, env, mounts)
                result.restarts = restarts
                again = policy == "Always" or (policy == "OnFailure" and result.exit_code != 0)
                if self.cancel.is_set() or not again:
                    break
                delay = RESTART_BACKOFF[min(restarts, len(RESTART_BACKOFF) - 1)]
                restarts += 1
                if self.cancel.wait(delay):
                    break
            results[container["name"]] = result
        return results

    def _run_one(
        self, container: dict[str, Any], env_base: dict[str, str], mounts: list[tuple[str, str]]
    ) -> ContainerResult:
        argv = [*container.get("command", []), *container.get("args", [])]
        if not argv:
            raise RuntimeError(
                f"container {container['name']} has no command: the devstack node "
                "runs commands as processes and cannot use an image's entrypoint"
            )
        env = {**env_base, **self.agent.resolve_env(self.pod, container)}
        argv = [expand(a, env) for a in argv]
        name = container["name"]
        termination = self.folder / f"{name}.termination-log"
        termination.write_text("")
        all_mounts = [*mounts]
        target = container.get("terminationMessagePath", DEFAULT_TERMINATION_PATH)
        if target:
            ensure_mount_point(target, directory=False)
            all_mounts.append((str(termination), target))
        wrapped = in_mount_namespace(all_mounts, argv)
        proc = ManagedProcess(name, self.folder)
        started = now()
        if self.cancel.is_set():
            return ContainerResult(137, started, now(), "killed before it started")
        popen = proc.start(
            wrapped, env=env, cwd=Path(container.get("workingDir") or self.folder), clean_env=True
        )
        self.current = proc
        log.info("pod=%s container=%s pid=%d event=started", pod_key(self.pod), name, popen.pid)
        code = popen.wait()
        self.current = None
        exit_code = code if code >= 0 else 128 - code  # killed by signal N -> 128+N
        message = termination.read_text(errors="replace")[:TERMINATION_MESSAGE_LIMIT]
        if (
            not message.strip()
            and exit_code != 0
            and container.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            message = proc.tail(80)[-TERMINATION_MESSAGE_LIMIT:]
        log.info("pod=%s container=%s exit=%d event=exited", pod_key(self.pod), name, exit_code)
        return ContainerResult(exit_code, started, now(), message.strip())

    # -- status reports --------------------------------------------------------------------------

    def _conditions(self, ready: bool, reason: str = "") -> list[dict[str, Any]]:
        t = now()
        ready_cond = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": t}
        if reason:
            ready_cond["reason"] = reason
        return [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": t},
            {"type": "Initialized", "status": "True", "lastTransitionTime": t},
            ready_cond,
            {**ready_cond, "type": "ContainersReady"},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
        ]

    def _container_status(
        self, container: dict[str, Any], state: dict[str, Any], restarts: int, ready: bool
    ) -> dict[str, Any]:
        return {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "containerID": f"devstack://{self.uid}/{container['name']}",
            "ready": ready,
            "started": "running" in state,
            "restartCount": restarts,
            "state": state,
        }

    def _report_running(self, container: dict[str, Any], restarts: int) -> None:
        status = {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.pod["status"].get("startTime") or now(),
            "conditions": self._conditions(ready=True),
            "containerStatuses": [
                self._container_status(container, {"running": {"startedAt": now()}}, restarts, ready=True)
            ],
        }
        self.pod["status"]["startTime"] = status["startTime"]
        self.agent.patch_status(self.path, status)

    def _report_terminal(self, results: dict[str, ContainerResult], init_failed: bool = False) -> None:
        ok = all(r.exit_code == 0 for r in results.values()) and not init_failed
        spec = self.pod["spec"]

        def terminated(c: dict[str, Any]) -> dict[str, Any]:
            r = results.get(c["name"]) or ContainerResult(137, now(), now(), "not started")
            state = {
                "terminated": {
                    "exitCode": r.exit_code,
                    "reason": r.reason,
                    "startedAt": r.started,
                    "finishedAt": r.finished,
                    "containerID": f"devstack://{self.uid}/{c['name']}",
                }
            }
            if r.message:
                state["terminated"]["message"] = r.message
            return self._container_status(c, state, r.restarts, ready=False)

        status: dict[str, Any] = {
            "phase": "Succeeded" if ok else "Failed",
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": self.pod["status"].get("startTime") or now(),
            "conditions": self._conditions(ready=False, reason="PodCompleted" if ok else "PodFailed"),
            "containerStatuses": [terminated(c) for c in spec["containers"]],
        }
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [terminated(c) for c in spec["initContainers"]]
        self.agent.patch_status(self.path, status)

    def _report_failed_to_start(self, message: str) -> None:
        status = {
            "phase": "Failed",
            "reason": "StartError",
            "message": message[:1000],
            "conditions": self._conditions(ready=False, reason="PodFailed"),
        }
        with contextlib.suppress(ApiError):
            self.agent.patch_status(self.path, status)


def expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command/args ($$ escapes)."""
    out, i = [], 0
    while i < len(arg):
        if arg.startswith("$$", i):
            out.append("$")
            i += 2
        elif arg.startswith("$(", i) and ")" in arg[i:]:
            end = arg.index(")", i)
            name = arg[i + 2 : end]
            out.append(env.get(name, arg[i : end + 1]))
            i = end + 1
        else:
            out.append(arg[i])
            i += 1
    return "".join(out)


def ensure_mount_point(path: str, directory: bool) -> None:
    target = Path(path)
    if directory:
        target.mkdir(parents=True, exist_ok=True)
    elif not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


def in_mount_namespace(mounts: list[tuple[str, str]], argv: list[str]) -> list[str]:
    """Wrap ``argv`` so it runs in a private mount namespace with ``mounts`` bind-mounted."""
    if not mounts:
        return argv
    script = "set -e; " + "; ".join(f'mount --bind "${i * 2 + 1}" "${i * 2 + 2}"' for i in range(len(mounts)))
    script += f'; shift {len(mounts) * 2}; exec "$@"'
    flat = [p for pair in mounts for p in pair]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *flat, *argv]


class Agent:
    def __init__(
        self,
        kube_factory: Callable[[], Kube],
        node: str,
        state: Path,
        api_port: int,
        ca: Path,
        path_prefix: str,
        kubelet_port: int,
    ) -> None:
        self.kubelet_port = kubelet_port
        self.kube_factory = kube_factory
        self.kube = kube_factory()
        self.node = node
        self.state = state
        self.api_port = api_port
        self.ca = ca
        self.path_prefix = path_prefix
        self.capacity_millis = (os.cpu_count() or 1) * 1000
        self.runs: dict[str, PodRun] = {}
        self.reserved: dict[str, int] = {}  # pod uid -> CPU millis while bound and not finished
        self.unbound: dict[str, dict[str, Any]] = {}
        self.done: set[str] = set()  # pods whose processes ran here and ended
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # -- node ----------------------------------------------------------------------------------

    def register(self) -> None:
        ensure_mount_point(SA_MOUNT, directory=True)
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        resources = {
            "cpu": str(os.cpu_count() or 1),
            "memory": f"{mem // 1024}Ki",
            "pods": "110",
            "ephemeral-storage": "100Gi",
        }
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {
                    "kubernetes.io/hostname": self.node,
                    "kubernetes.io/os": "linux",
                    "node.kubernetes.io/instance-type": "mp4mp3-devstack",
                    "mp4mp3.io/node-agent": "processes",
                },
            },
            "spec": {},
        }
        with contextlib.suppress(ApiError):
            self.kube.create("/api/v1/nodes", node)
        status = {
            "capacity": resources,
            "allocatable": resources,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": socket.gethostname()},
            ],
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": os.uname().release,
                "osImage": "mp4mp3 devstack (pods run as local processes)",
                "containerRuntimeVersion": "devstack://processes",
                "kubeletVersion": "devstack-node-agent",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        self.kube.patch(
            f"/api/v1/nodes/{self.node}/status",
            {"status": {**status, "conditions": self._node_conditions()}},
            STRATEGIC_PATCH,
        )

    def _node_conditions(self) -> list[dict[str, Any]]:
        t = now()

        def cond(kind: str, value: str, reason: str, message: str) -> dict[str, Any]:
            return {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": t,
                "lastTransitionTime": t,
            }

        return [
            cond("Ready", "True", "KubeletReady", "devstack node agent is posting ready status"),
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "memory is sufficient"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "PIDs are sufficient"),
        ]

    def heartbeat(self) -> None:
        while not self.stopping.wait(HEARTBEAT_SECONDS):
            try:
                self.kube.patch(
                    f"/api/v1/nodes/{self.node}/status",
                    {"status": {"conditions": self._node_conditions()}},
                    STRATEGIC_PATCH,
                )
            except Exception:
                log.exception("event=heartbeat-failed")

    # -- watches -------------------------------------------------------------------------------

    def watch_pods(self, kind: str, selector: str) -> None:
        """List then watch pods matching ``selector``, forever; every pod seen goes to the queue."""
        kube = self.kube_factory()  # one connection per watch
        while not self.stopping.is_set():
            try:
                listing = kube.get("/api/v1/pods", fieldSelector=selector)
                for pod in listing["items"]:
                    self.events.put((kind, pod))
                rv = listing["metadata"]["resourceVersion"]
                for event in kube.watch("/api/v1/pods", rv, fieldSelector=selector):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.events.put((kind, event["object"]))
                    elif event["type"] == "DELETED":
                        self.events.put((f"{kind}-deleted", event["object"]))
                    elif event["type"] == "ERROR":
                        break
            except Exception as exc:
                if not self.stopping.is_set():
                    log.warning("event=watch-restart kind=%s error=%s", kind, exc)
                    time.sleep(1)

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> None:
        self.register()
        self._fail_orphans()
        threads = [
            threading.Thread(target=self.watch_pods, args=("unbound", "spec.nodeName="), daemon=True),
            threading.Thread(
                target=self.watch_pods, args=("ours", f"spec.nodeName={self.node}"), daemon=True
            ),
            threading.Thread(target=self.heartbeat, daemon=True),
        ]
        for t in threads:
            t.start()
        (self.state / "ready").write_text(now())
        log.info("node=%s cpu_millis=%d event=ready", self.node, self.capacity_millis)
        while not self.stopping.is_set():
            try:
                kind, pod = self.events.get(timeout=1)
            except queue.Empty:
                continue
            try:
                self.handle(kind, pod)
            except Exception:
                log.exception("pod=%s event=handle-failed", pod_key(pod))

    def handle(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "unbound":
            if pod["spec"].get("nodeName") or pod["status"].get("phase") in ("Succeeded", "Failed"):
                self.unbound.pop(uid, None)
            else:
                self.unbound[uid] = pod
            self.schedule()
        elif kind == "unbound-deleted":
            self.unbound.pop(uid, None)
        elif kind == "ours":
            self.unbound.pop(uid, None)
            self.on_our_pod(pod)
        elif kind == "ours-deleted":
            run = self.runs.get(uid)
            if run:
                run.kill(grace=0)
        elif kind == "finished":
            self.schedule()

    def on_our_pod(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        meta = pod["metadata"]
        run = self.runs.get(uid)
        deleting = meta.get("deletionTimestamp") is not None
        if run is not None:
            if deleting and not run.cancel.is_set():
                run.kill(grace=float(meta.get("deletionGracePeriodSeconds") or 0))
            return
        phase = pod["status"].get("phase")
        if deleting:
            self.delete_now(pod)
            return
        if phase in ("Succeeded", "Failed") or uid in self.done:
            return
        with self.lock:
            self.reserved[uid] = pod_cpu_request(pod)
        run = PodRun(
            pod=pod, agent=self, folder=self.state / "pods" / f"{meta['namespace']}_{meta['name']}_{uid[:8]}"
        )
        self.runs[uid] = run
        run.start()

    def finished(self, run: PodRun) -> None:
        """Called from a pod's thread when its processes have ended and status is reported."""
        with self.lock:
            self.runs.pop(run.uid, None)
            self.reserved.pop(run.uid, None)
            self.done.add(run.uid)
        if run.cancel.is_set():
            self.delete_now(run.pod)
        self.events.put(("finished", run.pod))

    def delete_now(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        with contextlib.suppress(ApiError):
            self.kube.delete(path, {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})

    def schedule(self) -> None:
        """Bind waiting pods, oldest first, while their CPU requests fit the node."""
        waiting = sorted(self.unbound.values(), key=lambda p: p["metadata"]["creationTimestamp"])
        for pod in waiting:
            spec = pod["spec"]
            if spec.get("schedulerName", SCHEDULER) != SCHEDULER or spec.get("schedulingGates"):
                continue
            if pod["metadata"].get("deletionTimestamp"):
                continue
            need = pod_cpu_request(pod)
            with self.lock:
                used = sum(self.reserved.values())
                if used + need > self.capacity_millis and used > 0:
                    return  # FIFO: nothing jumps the queue
                self.reserved[pod["metadata"]["uid"]] = need
            self.bind(pod)

    def bind(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
        }
        try:
            self.kube.create(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", binding)
            log.info("pod=%s event=bound node=%s", pod_key(pod), self.node)
        except ApiError as exc:
            log.warning("pod=%s event=bind-failed error=%s", pod_key(pod), exc)
            with self.lock:
                self.reserved.pop(meta["uid"], None)
        self.unbound.pop(meta["uid"], None)

    def patch_status(self, path: str, status: dict[str, Any]) -> None:
        self.kube.patch(f"{path}/status", {"status": status}, STRATEGIC_PATCH)

    def _fail_orphans(self) -> None:
        """Pods left Running by an earlier agent have no process any more: report them failed."""
        pods = self.kube.get("/api/v1/pods", fieldSelector=f"spec.nodeName={self.node}")["items"]
        for pod in pods:
            if pod["status"].get("phase") in ("Pending", "Running", None):
                meta = pod["metadata"]
                if meta.get("deletionTimestamp"):
                    self.delete_now(pod)
                    continue
                run = PodRun(pod=pod, agent=self, folder=self.state / "pods" / "orphans")
                status = {
                    "phase": "Failed",
                    "reason": "NodeAgentRestarted",
                    "message": "the devstack node agent restarted and lost this pod's process",
                    "conditions": run._conditions(ready=False, reason="PodFailed"),
                }
                with contextlib.suppress(ApiError):
                    self.patch_status(run.path, status)
                self.done.add(meta["uid"])

    def resolve_env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        ns = pod["metadata"]["namespace"]
        for source in container.get("envFrom", []):
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self._get_data("configmaps", ns, source["configMapRef"])
            else:
                data = self._get_data("secrets", ns, source["secretRef"])
            env.update({prefix + k: v for k, v in data.items()})
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = expand(var["value"], env)
            elif "valueFrom" in var:
                value = self._value_from(pod, var["valueFrom"])
                if value is not None:
                    env[var["name"]] = value
        return env

    def _get_data(self, kind: str, ns: str, ref: dict[str, Any]) -> dict[str, str]:
        import base64

        try:
            obj = self.kube.get(f"/api/v1/namespaces/{ns}/{kind}/{ref['name']}")
        except ApiError as exc:
            if exc.status == 404 and ref.get("optional"):
                return {}
            raise
        data = obj.get("data") or {}
        if kind == "secrets":
            return {k: base64.b64decode(v).decode() for k, v in data.items()}
        return dict(data)

    def _value_from(self, pod: dict[str, Any], source: dict[str, Any]) -> str | None:
        ns = pod["metadata"]["namespace"]
        if "fieldRef" in source:
            return field_value(pod, source["fieldRef"]["fieldPath"])
        for kind, key in (("secrets", "secretKeyRef"), ("configmaps", "configMapKeyRef")):
            if key in source:
                ref = source[key]
                data = self._get_data(kind, ns, ref)
                if ref["key"] not in data and not ref.get("optional"):
                    raise RuntimeError(f"{kind[:-1]} {ref['name']} has no key {ref['key']}")
                return data.get(ref["key"])
        return None

    def shutdown(self) -> None:
        self.stopping.set()
        runs = list(self.runs.values())
        for run in runs:
            run.kill(grace=5)
        for run in runs:
            if run.thread:
                run.thread.join(timeout=10)


def field_value(pod: dict[str, Any], path: str) -> str:
    meta, spec, _status = pod["metadata"], pod["spec"], pod.get("status", {})
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path] or "")
    for prefix, source in (
        ("metadata.labels", meta.get("labels", {})),
        ("metadata.annotations", meta.get("annotations", {})),
    ):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str(source.get(path[len(prefix) + 2 : -2], ""))
    raise RuntimeError(f"unsupported fieldRef {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", default="devstack")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--path-prefix", default="")
    parser.add_argument("--kubelet-port", type=int, required=True)
    parser.add_argument("--tls-cert", type=Path, required=True)
    parser.add_argument("--tls-key", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    (args.state / "ready").unlink(missing_ok=True)
    agent = Agent(
        lambda: Kube.from_kubeconfig(args.kubeconfig),
        args.node,
        args.state,
        args.api_port,
        args.ca,
        args.path_prefix,
        args.kubelet_port,
    )
    node_logs.serve(args.state / "pods", args.kubelet_port, args.tls_cert, args.tls_key, args.ca)

    def on_term(signum: int, frame: Any) -> None:
        log.info("event=stopping signal=%d", signum)
        agent.shutdown()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    agent.run()


if __name__ == "__main__":
    main()
