"""Admission and fair queueing on the devstack: converter Jobs created suspended, admitted by the
operator under its caps, round-robin over owners, priority within one owner; the queue shown in
the status and by kubectl.

The offset devstacks have no node, so converter pods never run: these tests play the converter
(they mark its pod Succeeded, as the kubelet would) and say so in their names."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from common.phases import TERMINAL
from common.resources import JOB_LABEL
from devstack.process import wait_until as wait_for
from tests.support.operator_world import OperatorWorld, play_converter
from tests.support.world import Worlds

pytestmark = pytest.mark.devstack


def converter_job(world: OperatorWorld, name: str) -> dict[str, Any] | None:
    jobs = world.objects("jobs", name)
    return jobs[0] if jobs else None


def admitted(world: OperatorWorld, name: str) -> bool:
    job = converter_job(world, name)
    return job is not None and job["spec"].get("suspend") is False


def running_names(world: OperatorWorld) -> set[str]:
    """ConversionJobs whose converter Job is admitted and not finished: neither the Job nor the
    ConversionJob (settled from its pod's end, a moment before the Job records it) says it ended."""
    jobs = world.admin.get(f"/apis/batch/v1/namespaces/{world.namespace}/jobs", labelSelector=JOB_LABEL)[
        "items"
    ]
    admitted = {
        j["metadata"]["labels"][JOB_LABEL]
        for j in jobs
        if j["spec"].get("suspend") is False
        and not any(c["type"] in ("Complete", "Failed") for c in j.get("status", {}).get("conditions") or [])
    }
    return {name for name in admitted if world.status(name).get("phase") not in TERMINAL}


def test_fairness_a_late_users_job_starts_within_one_slot_playing_the_converter(
    worlds: Worlds, tmp_path: Path
) -> None:
    world = worlds.new(OperatorWorld)
    world.hold_pods()  # no converter runs: the test plays it
    world.start_operator(OPERATOR_MAX_RUNNING="2", OPERATOR_MAX_RUNNING_PER_USER="2")
    video = tmp_path / "fake.mp4"
    video.write_bytes(b"\x00" * 64)  # never converted: the test plays the converter
    a_jobs = [world.submit(video, owner="alice") for _ in range(29)]
    a_high = world.submit(video, owner="alice", priority="high")  # after the others, ahead of them
    bob = world.submit(video, owner="bob")

    # the cap holds: alice's two oldest run, everything else is Queued with a place and a reason
    wait_for(lambda: running_names(world) == set(a_jobs[:2]), 60, "alice's first two jobs to be admitted")
    st = world.wait_phase(bob, "Queued")
    wait_for(lambda: world.status(bob).get("queue", {}).get("position") == 1, 30, "bob's place to be written")
    # the place and the sentence saying it are written together (under the job's lock, from its
    # status read again there), so a reconcile never leaves one without the other
    st = world.status(bob)
    assert st["message"].startswith("Queued at position 1:"), st
    assert st["queue"]["reason"] == "ClusterCapReached"
    wait_for(
        lambda: world.status(a_high).get("queue", {}).get("position") == 2, 30, "alice's high job's place"
    )
    assert world.status(a_jobs[2])["queue"]["position"] == 3
    table = world.kubectl("get", "cvj", bob)
    header, row = table.stdout.splitlines()
    columns = dict(zip(re.split(r"\s{2,}", header.strip()), re.split(r"\s{2,}", row.strip()), strict=False))
    assert columns["PHASE"] == "Queued" and columns["QUEUE"] == "1"

    # one slot frees: bob's only job takes it, not alice's 28 waiting ones
    play_converter(world, a_jobs[0])
    freed = time.monotonic()
    wait_for(lambda: admitted(world, bob), 30, "bob's job to be admitted")
    bob_waited = time.monotonic() - freed
    assert running_names(world) == {a_jobs[1], bob}
    assert world.wait_settled(a_jobs[0])["phase"] == "Succeeded"
    # its status follows the admission a moment later (CI U saw it still queued right after)
    wait_for(lambda: "queue" not in world.status(bob), 30, "bob's job to leave the queue")
    assert world.status(bob)["phase"] == "Pending"

    # the next slot goes to alice's high-priority job, submitted last of hers
    play_converter(world, a_jobs[1])
    wait_for(lambda: admitted(world, a_high), 30, "alice's high-priority job to be admitted")
    assert running_names(world) == {bob, a_high}
    assert all(world.status(n)["phase"] == "Queued" for n in a_jobs[2:])
    history = [(t["phase"], t["reason"]) for t in world.status(bob)["transitions"]]
    # (a first "Waiting" may come before "Queued": the Job's creation is seen a moment later)
    assert history.index(("Queued", "Queued")) < history.index(("Pending", "Starting"))
    print(f"\nfairness: bob admitted {bob_waited:.2f} s after a slot freed (29 of alice's queued ahead)")
    assert bob_waited < 10
