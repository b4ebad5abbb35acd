"""The operator's world (tests/support/world.py): a namespace under the operator's RBAC with a tap
on the outcome events and operator processes of our own running on it, and ways to look at it.

The devstack's own operator watches namespace mp4mp3 only, so it never meets these worlds."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gridfs
import yaml
from bson import ObjectId

from common.resources import CHUNK_SIZE, GROUP, JOB_LABEL, OWNER_LABEL, VERSION, job_name, mp3_id
from devstack.config import Config
from devstack.process import wait_until as wait_for
from devstack.servers.release import pod_visible
from tests.support.gateway_harness import free_port
from tests.support.operator_harness import EventTap, OperatorProcess
from tests.support.world import World, quietly

POD_NODE_SELECTOR = "scheduler.alpha.kubernetes.io/node-selector"  # the namespace's, for all its pods


@functools.cache
def converter_image() -> str:
    """The converter image as the devstack built and imported it (built only if missing); on a
    devstack without a node (an offset one) no pod runs, so a name that is never pulled."""
    from devstack.images import ensure_images  # buildah's wrappers only when a world needs them

    cfg = Config.from_env()
    return ensure_images(cfg)["converter"] if cfg.node else "mp4mp3/converter:no-node"


@dataclass
class OperatorWorld(World):
    """A world under the operator's RBAC with a tap on the outcome events, the operators running on
    it, and ways to look at it."""

    ROLE = "operator"
    PREFIX = "op"

    tap: EventTap = field(init=False)
    operators: list[OperatorProcess] = field(default_factory=list)
    pods_held: bool = False  # hold_pods(): its pods are never scheduled, a test plays them

    def opened(self) -> None:
        self.tap = EventTap(self.amqp_url).bind()

    def hold_pods(self) -> None:
        """Keep this world's pods off the node, so that no converter runs and a test may play it
        (play_converter): the namespace pins its pods to a node that does not exist (the API
        server's PodNodeSelector admission plugin), and the scheduler leaves them Pending."""
        annotations = {POD_NODE_SELECTOR: f"{GROUP}/played=converter"}
        self.admin.patch(f"/api/v1/namespaces/{self.namespace}", {"metadata": {"annotations": annotations}})
        self.pods_held = True

    # -- operators --------------------------------------------------------------------------------

    def operator_env(self, **overrides: str) -> dict[str, str]:
        # a test that runs no converter names an image of its own: nothing is built for it
        image = overrides.get("OPERATOR_CONVERTER_IMAGE") or converter_image()
        return {
            "OPERATOR_NAMESPACE": self.namespace,
            "OPERATOR_AMQP_URL": self.amqp_url,
            "OPERATOR_MONGO_URI": self.mongo_uri,
            "OPERATOR_HEALTH_HOST": "127.0.0.1",
            "OPERATOR_HEALTH_PORT": str(free_port()),  # other sessions on this machine run operators too
            "OPERATOR_METRICS_PORT": "0",  # several operators run at once; a test of metrics sets one
            "OPERATOR_PEERING_NAME": f"mp4mp3-operator-{self.tag}",
            "OPERATOR_PEER_ID": f"test-{self.tag}-{len(self.operators)}",
            # the converter pods run on the devstack's node from the image built here, and reach
            # FerretDB at the node's address (a pod's loopback is not the host's)
            "OPERATOR_CONVERTER_IMAGE": image,
            "OPERATOR_CONVERTER_IMAGE_PULL_POLICY": "Never",
            "OPERATOR_CONVERTER_MONGO_URI": pod_visible(self.mongo_uri),
            "KUBECONFIG": str(self.kubeconfig),
            **overrides,
        }

    def start_operator(self, **overrides: str) -> OperatorProcess:
        proc = OperatorProcess(
            self.operator_env(**overrides), self.folder / f"operator-{len(self.operators)}.log"
        )
        self.operators.append(proc)
        return proc.start()

    # -- ConversionJobs ---------------------------------------------------------------------------

    def put_video(self, path: Path, owner: str = "u-1") -> dict[str, Any]:
        """Store a video as the gateway does; returns the ConversionJob's spec.source for it."""
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        meta = {
            "owner": owner,
            "filename": path.name,
            "size": len(data),
            "sha256": sha,
            "contentType": "video/mp4",
        }
        bucket = gridfs.GridFSBucket(self.db, bucket_name="videos", chunk_size_bytes=CHUNK_SIZE)
        video_id = bucket.upload_from_stream(path.name, data, metadata=meta)
        return {"videoId": str(video_id), "filename": path.name, "size": len(data), "sha256": sha}

    def manifest(self, source: dict[str, Any], owner: str = "u-1", **spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ConversionJob",
            "metadata": {
                "name": job_name(source["videoId"]),
                "namespace": self.namespace,
                "labels": {OWNER_LABEL: owner},
            },
            "spec": {"source": source, "owner": {"userId": owner, "email": f"{owner}@example.com"}, **spec},
        }

    def submit(self, video: Path, owner: str = "u-1", **spec: Any) -> str:
        """Store the video and kubectl-apply a ConversionJob for it; returns its name."""
        return self.apply(self.manifest(self.put_video(video, owner), owner, **spec))

    def apply(self, manifest: dict[str, Any]) -> str:
        """kubectl-apply a ConversionJob manifest; returns its name."""
        done = self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        assert done.returncode == 0, done.stderr
        return str(manifest["metadata"]["name"])

    def status(self, name: str) -> dict[str, Any]:
        found = self.conversionjob(name)
        return dict((found or {}).get("status") or {})

    def wait_phase(self, name: str, *phases: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the ConversionJob's phase is one of ``phases``; returns its status."""
        wait_for(
            lambda: self.status(name).get("phase") in phases, timeout, f"{name} to be {'/'.join(phases)}"
        )
        return self.status(name)

    def wait_settled(self, name: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until it finished and its outcome event is published."""

        def settled() -> dict[str, Any] | None:
            st = self.status(name)
            return (
                st
                if st.get("phase") in ("Succeeded", "Failed") and st.get("outcomePublished") == st["phase"]
                else None
            )

        return dict(wait_for(settled, timeout, f"{name}'s outcome to be published"))

    def objects(self, kind: str, name: str) -> list[dict[str, Any]]:
        """jobs, pods, serviceaccounts, roles or rolebindings made for a ConversionJob."""
        api = {
            "jobs": f"/apis/batch/v1/namespaces/{self.namespace}/jobs",
            "pods": f"/api/v1/namespaces/{self.namespace}/pods",
            "serviceaccounts": f"/api/v1/namespaces/{self.namespace}/serviceaccounts",
            "roles": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{self.namespace}/roles",
            "rolebindings": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{self.namespace}/rolebindings",
        }[kind]
        return list(self.admin.get(api, labelSelector=f"{JOB_LABEL}={name}")["items"])

    def mp3s_of(self, name: str) -> list[dict[str, Any]]:
        return list(self.db["mp3s.files"].find({"metadata.job": name}))

    def download_mp3(self, file_id: str, dest: Path) -> Path:
        bucket = gridfs.GridFSBucket(self.db, bucket_name="mp3s", chunk_size_bytes=CHUNK_SIZE)
        with dest.open("wb") as out:
            bucket.download_to_stream(ObjectId(file_id), out)
        return dest

    def events_of(self, name: str) -> list[dict[str, Any]]:
        """Kubernetes Events recorded on the ConversionJob, oldest first."""
        events = self.admin.get(
            f"/api/v1/namespaces/{self.namespace}/events",
            fieldSelector=f"involvedObject.name={name},involvedObject.kind=ConversionJob",
        )["items"]
        return sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    def events_once(self, name: str, *reasons: str, timeout: float = 15) -> list[dict[str, Any]]:
        """events_of(name) once every one of ``reasons`` is among them: Kopf posts Events from a
        queue of its own, a moment after the status change they go with."""

        def recorded() -> list[dict[str, Any]] | None:
            events = self.events_of(name)
            return events if set(reasons) <= {e["reason"] for e in events} else None

        found: list[dict[str, Any]] = wait_for(recorded, timeout, f"Events {', '.join(reasons)} on {name}")
        return found

    # -- teardown ---------------------------------------------------------------------------------

    def close(self) -> None:
        # the operators are still up: deleting the ConversionJobs runs their finalizer
        for item in self.admin.get(self.cj_path)["items"]:
            quietly(self.admin.delete, f"{self.cj_path}/{item['metadata']['name']}")
        # an operator of this world may be stopped on purpose: the finalizers are dropped below
        with contextlib.suppress(TimeoutError):  # what wait_for raises
            wait_for(lambda: not self.admin.get(self.cj_path)["items"], 60, "ConversionJobs to be cleaned up")
        for proc in self.operators:
            proc.stop()
        super().close()


def play_converter(
    world: OperatorWorld,
    name: str,
    job: str | None = None,
    exit_code: int = 0,
    report: dict[str, Any] | None = None,
) -> None:
    """Play the converter of ConversionJob ``name`` (its Job ``job``, by default the first series'):
    on success store an MP3 as the converter does, then end its pod as the kubelet would, with
    ``exit_code`` and ``report`` as the termination message (the pod status the kubelet would
    write). Its pod must be held off the node (``world.hold_pods()``), or the real kubelet would
    run a converter beside the played one."""
    assert world.pods_held, "call world.hold_pods() first: a real converter would run beside the played one"
    job = job or name

    def pod() -> dict[str, Any] | None:
        mine = [p for p in world.objects("pods", name) if p["metadata"]["labels"].get("job-name") == job]
        return next((p for p in mine if not p["metadata"].get("deletionTimestamp")), None)

    found = wait_for(pod, 30, f"a converter pod of Job {job}")
    if exit_code == 0:
        report = report or _store_played_mp3(world, name)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "startedAt": now,
        "finishedAt": now,
        "message": json.dumps(report or {}),
    }
    container = {
        "name": "converter",
        "image": "converter",
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"terminated": terminated},
    }
    phase = "Succeeded" if exit_code == 0 else "Failed"
    status = {"phase": phase, "startTime": now, "containerStatuses": [container]}
    world.admin.patch(
        f"/api/v1/namespaces/{world.namespace}/pods/{found['metadata']['name']}/status", {"status": status}
    )


def play_converter_report(world: OperatorWorld, name: str) -> dict[str, Any]:
    """Play the converter of ConversionJob ``name`` up to the report it patches into the status
    once its MP3 is stored (``status.converterReport``, naming its pod), its pod not yet ended;
    the pod must be held off the node (``world.hold_pods()``). Returns the report."""
    assert world.pods_held, "call world.hold_pods() first: a real converter would run beside the played one"
    pods = wait_for(lambda: world.objects("pods", name), 30, f"a converter pod of {name}")
    report = {**_store_played_mp3(world, name), "pod": pods[0]["metadata"]["name"]}
    path = f"{world.cj_path}/{name}/status"
    world.admin.patch(path, {"status": {"converterReport": report}})
    return report


def _store_played_mp3(world: OperatorWorld, name: str) -> dict[str, Any]:
    """Store an MP3 as the converter of ``name`` does (under the id the operator expects); its report."""
    cr = world.conversionjob(name) or {}
    file_id = mp3_id(cr["metadata"]["uid"])
    bucket = gridfs.GridFSBucket(world.db, bucket_name="mp3s", chunk_size_bytes=CHUNK_SIZE)
    meta = {"owner": cr["spec"]["owner"]["userId"], "job": name, "filename": "played.mp3"}
    with contextlib.suppress(gridfs.errors.FileExists):
        bucket.upload_from_stream_with_id(file_id, "played.mp3", b"ID3" + bytes(1000), metadata=meta)
    return {"mp3Id": str(file_id), "size": 1003, "audioSeconds": 1.0}
