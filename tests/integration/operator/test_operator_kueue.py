"""Admission handed to Kueue (the chart's ``operator.admission.mode=kueue``): Kueue, built from its Go
module, runs beside the devstack (devstack/servers/kueue.py); the operator's Jobs carry the
LocalQueue's label and Kueue, not our admission, decides when each starts. Real converter pods."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.kube import ApiError, Kube
from devstack.servers.kueue import MANAGED_LABEL
from devstack.stack import Stack
from tests.support.operator_world import OperatorWorld
from tests.support.world import Worlds

pytestmark = pytest.mark.devstack

API_VERSION = "kueue.x-k8s.io/v1beta2"
KUEUE = f"/apis/{API_VERSION}"
QUEUE = "mp4mp3"  # the operator's OPERATOR_KUEUE_QUEUE_NAME by default
JOBS = 3
# room for one converter (it requests 250m and 128Mi): Kueue admits them one at a time
QUOTA = {"cpu": "300m", "memory": "256Mi"}


@pytest.fixture
def cluster_queue(devstack: Stack, kube: Kube) -> Iterator[str]:
    """Kueue running, a ResourceFlavor and a ClusterQueue of room for one converter."""
    devstack.up(["kueue"])  # a host service: `make test` stops it after the pass
    name = f"mp4mp3-{uuid.uuid4().hex[:6]}"
    kube.create(
        f"{KUEUE}/resourceflavors",
        {"apiVersion": API_VERSION, "kind": "ResourceFlavor", "metadata": {"name": name}},
    )
    resources = [{"name": k, "nominalQuota": v} for k, v in QUOTA.items()]
    spec = {
        "namespaceSelector": {},
        "resourceGroups": [
            {"coveredResources": list(QUOTA), "flavors": [{"name": name, "resources": resources}]}
        ],
    }
    kube.create(
        f"{KUEUE}/clusterqueues",
        {"apiVersion": API_VERSION, "kind": "ClusterQueue", "metadata": {"name": name}, "spec": spec},
    )
    yield name
    for kind in ("clusterqueues", "resourceflavors"):  # Kueue lets them go once nothing uses them
        with contextlib.suppress(ApiError):
            kube.delete(f"{KUEUE}/{kind}/{name}")


def running_jobs(world: OperatorWorld) -> list[str]:
    """Jobs of the world that Kueue let start and that have not ended."""
    jobs = world.admin.get(f"/apis/batch/v1/namespaces/{world.namespace}/jobs")["items"]
    return [
        j["metadata"]["name"]
        for j in jobs
        if not j["spec"].get("suspend")
        and not any(
            c["type"] in ("Complete", "Failed") and c["status"] == "True"
            for c in j["status"].get("conditions") or []
        )
    ]


def test_kueue_admits_the_operators_jobs_one_at_a_time_within_its_cluster_queues_quota(
    worlds: Worlds, media: Path, cluster_queue: str
) -> None:
    world = worlds.new(OperatorWorld)
    world.admin.patch(
        f"/api/v1/namespaces/{world.namespace}", {"metadata": {"labels": {MANAGED_LABEL: "true"}}}
    )
    local = {
        "apiVersion": API_VERSION,
        "kind": "LocalQueue",
        "metadata": {"name": QUEUE},
        "spec": {"clusterQueue": cluster_queue},
    }
    world.admin.create(f"{KUEUE}/namespaces/{world.namespace}/localqueues", local)
    world.start_operator(OPERATOR_ADMISSION="kueue")
    names = [world.submit(media / "talk.mp4", owner=f"u-{i}") for i in range(JOBS)]

    most_running, queued_said = 0, set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        most_running = max(most_running, len(running_jobs(world)))
        statuses = {name: world.status(name) for name in names}
        queued_said |= {s.get("message") for s in statuses.values() if s.get("phase") == "Queued"}
        if all(s.get("phase") in ("Succeeded", "Failed") for s in statuses.values()):
            break
        time.sleep(0.5)

    assert [world.status(n).get("phase") for n in names] == ["Succeeded"] * JOBS
    assert most_running == 1  # the quota holds one converter: Kueue, not the operator, held the others
    assert f"Queued: waiting for Kueue to admit its Job (LocalQueue {QUEUE})." in queued_said
    workloads = world.admin.get(f"{KUEUE}/namespaces/{world.namespace}/workloads")["items"]
    admitted: list[dict[str, Any]] = [
        w["status"]["admission"] for w in workloads if w["status"].get("admission")
    ]
    assert len(workloads) == JOBS and [a["clusterQueue"] for a in admitted] == [cluster_queue] * JOBS
    for name in names:
        (job,) = world.objects("jobs", name)
        assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == QUEUE
