"""Crashes and cleanups: a converter killed mid-way, an operator killed mid-job, two replicas, a
ConversionJob deleted while it runs or after, a converter stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pika
import psutil
import pytest
from bson import ObjectId

from common.resources import CHUNK_SIZE
from devstack.process import wait_until as wait_for
from tests.support.operator_harness import converter_processes
from tests.support.operator_world import OperatorWorld
from tests.support.world import Worlds

# serial: kills and takeovers timed against peering lifetimes; pass 1's load would blur them (the
# release's lane beside them is mostly waiting on backoffs and rollouts)
pytestmark = [pytest.mark.devstack, pytest.mark.slow, pytest.mark.serial]


def progress_between(world: OperatorWorld, name: str, low: int, high: int) -> int | None:
    st = world.status(name)
    progress = st.get("progress")
    return (
        progress
        if st.get("phase") == "Running" and progress is not None and low <= progress <= high
        else None
    )


def test_converter_killed_mid_way_is_retried_and_leaves_one_mp3(world: OperatorWorld, media: Path) -> None:
    name = world.submit(media / "lecture.mp4")
    # the converter reports progress while it runs (at most about once a second)
    seen = wait_for(lambda: progress_between(world, name, 1, 60), 120, "progress to be reported mid-way")
    (victim,) = wait_for(lambda: converter_processes(name), 30, "the converter's process")
    victim.send_signal(signal.SIGKILL)  # no cleanup, no termination message: a crash

    st = world.wait_settled(name, timeout=240)
    assert st["phase"] == "Succeeded", st.get("message")
    assert st["attempts"] == 2 and seen >= 1

    def exit_codes() -> list[int] | None:  # the kubelet reports the last pod's end a moment after
        states = [p["status"]["containerStatuses"][0]["state"] for p in world.objects("pods", name)]
        return (
            sorted(s["terminated"]["exitCode"] for s in states)
            if all("terminated" in s for s in states)
            else None
        )

    assert wait_for(exit_codes, 30, "both converter pods to be reported ended") == [0, 137]
    (stored,) = world.mp3s_of(name)  # one MP3, not two
    chunks = world.db["mp3s.chunks"].count_documents({"files_id": stored["_id"]})
    assert chunks == -(-stored["length"] // CHUNK_SIZE)  # and no chunks of the killed attempt left over
    assert st["mp3Size"] == stored["length"]
    reasons = [e["reason"] for e in world.events_once(name, "Converted")]
    assert reasons.count("Converting") >= 2 and "Converted" in reasons


def test_deleting_a_running_conversionjob_removes_job_pods_files_and_rbac(
    world: OperatorWorld, media: Path
) -> None:
    name = world.submit(media / "lecture.mp4")
    wait_for(lambda: converter_processes(name), 60, "the converter to run")
    cr = world.conversionjob(name)
    assert cr is not None
    video_id = cr["spec"]["source"]["videoId"]
    assert world.objects("roles", name) and world.objects("serviceaccounts", name)

    done = world.kubectl("delete", "cvj", name, "--wait=true", "--timeout=90s")
    assert done.returncode == 0, done.stderr

    assert world.conversionjob(name) is None
    wait_for(lambda: not world.objects("jobs", name), 30, "the Job to go")
    wait_for(lambda: not world.objects("pods", name), 60, "the pods to go")
    wait_for(lambda: not converter_processes(name), 30, "the converter process to stop")
    for kind in ("serviceaccounts", "roles", "rolebindings"):  # owned by the ConversionJob: collected

        def gone(kind: str = kind) -> bool:
            return not world.objects(kind, name)

        wait_for(gone, 60, f"the per-job {kind} to go")
    assert world.db["videos.files"].count_documents({"_id": ObjectId(video_id)}) == 0
    assert world.db["videos.chunks"].count_documents({"files_id": ObjectId(video_id)}) == 0
    assert world.mp3s_of(name) == []
    assert world.tap.events_for(name) == []  # a cancelled job has no outcome to announce


def test_deleting_a_finished_conversionjob_removes_both_files(world: OperatorWorld, media: Path) -> None:
    name = world.submit(media / "talk.mp4")
    st = world.wait_settled(name)
    (mp3,) = world.mp3s_of(name)
    assert str(mp3["_id"]) == st["mp3Id"]
    cr = world.conversionjob(name)
    assert cr is not None
    video_id = cr["spec"]["source"]["videoId"]

    done = world.kubectl("delete", "cvj", name, "--wait=true", "--timeout=60s")
    assert done.returncode == 0, done.stderr
    assert world.db["videos.files"].count_documents({"_id": ObjectId(video_id)}) == 0
    assert world.db["mp3s.files"].count_documents({"_id": mp3["_id"]}) == 0
    assert world.db["mp3s.chunks"].count_documents({"files_id": mp3["_id"]}) == 0
    wait_for(
        lambda: not world.objects("jobs", name) and not world.objects("pods", name), 60, "Job and pods to go"
    )


def test_operator_killed_mid_job_makes_no_second_job_and_publishes_once(worlds: Worlds, media: Path) -> None:
    world = worlds.new(OperatorWorld)
    operator = world.start_operator()
    name = world.submit(media / "lecture.mp4")
    wait_for(lambda: converter_processes(name), 60, "the converter to run")
    (job,) = world.objects("jobs", name)

    operator.kill()
    operator.start()  # the same identity, as a restarted container in the same pod would have
    st = world.wait_settled(name, timeout=240)
    assert st["phase"] == "Succeeded"
    (after,) = world.objects("jobs", name)
    assert after["metadata"]["uid"] == job["metadata"]["uid"]  # no second Job
    assert len(world.tap.events_for(name)) == 1

    # and once more after the outcome: the resumed operator finds nothing left to do
    resumed = operator.count("Handler 'start' succeeded")
    operator.stop()
    operator.start()
    wait_for(
        lambda: operator.count("Handler 'start' succeeded") > resumed, 60, "the restarted operator to resume"
    )
    assert len(world.objects("jobs", name)) == 1
    assert len(world.tap.events_for(name)) == 1
    assert world.status(name)["attempts"] == 1


def test_of_two_replicas_only_one_acts_and_the_other_takes_over(worlds: Worlds, media: Path) -> None:
    world = worlds.new(OperatorWorld)
    lifetime = {"OPERATOR_PEERING_LIFETIME": "10"}
    leader = world.start_operator(OPERATOR_PEERING_PRIORITY="200", **lifetime)
    standby = world.start_operator(OPERATOR_PEERING_PRIORITY="100", **lifetime)  # starts paused

    first = world.submit(media / "talk.mp4")
    world.wait_settled(first)
    assert leader.count(f"job={first}") > 0
    assert standby.count(f"job={first}") == 0

    leader.kill()  # its keep-alive expires after the peering lifetime; then the standby acts
    second = world.submit(media / "talk.mp4")
    st = world.wait_settled(second, timeout=120)
    assert st["phase"] == "Succeeded"
    assert standby.count(f"job={second}") > 0
    assert standby.count("Resuming operations") == 1
    assert len(world.tap.events_for(first)) == len(world.tap.events_for(second)) == 1


def test_sigterm_stops_the_converter_its_encoder_and_removes_temp_files(
    world: OperatorWorld, media: Path, tmp_path: Path
) -> None:
    source = world.put_video(media / "lecture.mp4")
    work, message = tmp_path / "work", tmp_path / "termination-log"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVERTER_", "KUBERNETES_"))}
    env.update(
        CONVERTER_JOB_NAME=f"cj-{source['videoId']}",
        CONVERTER_NAMESPACE=world.namespace,
        CONVERTER_JOB_UID=str(uuid.uuid4()),
        CONVERTER_SPEC=json.dumps({"source": source, "owner": {"userId": "u-1"}}),
        CONVERTER_MONGO_URI=world.mongo_uri,
        CONVERTER_WORK_DIR=str(work),
        CONVERTER_TERMINATION_LOG=str(message),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "converter_job"], env=env, stderr=subprocess.PIPE, text=True
    )
    ffmpeg = wait_for(
        lambda: [c for c in psutil.Process(proc.pid).children() if c.name() == "ffmpeg"],
        60,
        "ffmpeg to start",
    )[0]
    assert list(work.iterdir())  # its temp folder, with the MP4 in it

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 143
    wait_for(lambda: not ffmpeg.is_running() or ffmpeg.status() == psutil.STATUS_ZOMBIE, 10, "ffmpeg to stop")
    assert list(work.iterdir()) == []
    assert json.loads(message.read_text())["reason"] == "Terminated"
    assert world.db["mp3s.files"].count_documents({"metadata.job": env["CONVERTER_JOB_NAME"]}) == 0


def test_an_outcome_the_broker_refused_is_published_later_exactly_once(worlds: Worlds, media: Path) -> None:
    world = worlds.new(OperatorWorld)
    conn = pika.BlockingConnection(pika.URLParameters(world.amqp_url))
    conn.channel().queue_delete(world.tap.queue)  # nobody bound to the outcomes: the broker returns them
    conn.close()
    operator = world.start_operator(OPERATOR_RESYNC_SECONDS="2")
    name = world.submit(media / "talk.mp4")
    world.wait_phase(name, "Succeeded")
    failed = f"job={name} event=outcome.publish_failed"
    wait_for(lambda: operator.count(failed) >= 2, 30, "publishing to be retried")
    assert "outcomePublished" not in world.status(name)  # not recorded as published: it was not

    world.tap.bind()  # the consumer's queue is back
    st = world.wait_settled(name, timeout=30)
    assert st["outcomePublished"] == "Succeeded"
    assert len(world.tap.events_for(name)) == 1
