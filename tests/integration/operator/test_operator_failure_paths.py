"""The failure paths no other test walks, end to end with real converter pods on the node: a stored
video that changed since its upload, a Job past its deadline, a converter failing every attempt, a
probe over its time.
Each ends Failed with its own reason and sentence, and exactly one outcome event (what the
notification service sends its one email from: tests/integration/notification)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import ObjectId

from devstack.process import wait_until as wait_for
from tests.support.operator_world import OperatorWorld
from tests.support.world import Worlds

pytestmark = pytest.mark.devstack


def outcomes(world: OperatorWorld, name: str) -> list[str]:
    return [e["type"] for e in world.tap.events_for(name)]


def test_a_stored_video_changed_since_its_upload_fails_source_corrupted_without_a_retry(
    worlds: Worlds, media: Path
) -> None:
    world = worlds.new(OperatorWorld)
    world.start_operator()
    source = world.put_video(media / "talk.mp4")
    # one byte of the stored video flipped, as a disk or a bad copy would: size and sha256 of the
    # upload (in the ConversionJob) no longer match what is stored
    chunks = world.db["videos.chunks"]
    first = chunks.find_one({"files_id": ObjectId(source["videoId"]), "n": 0})
    assert first is not None
    data = bytearray(first["data"])
    data[1000] ^= 0xFF
    chunks.update_one({"_id": first["_id"]}, {"$set": {"data": bytes(data)}})
    name = world.apply(world.manifest(source))

    st = world.wait_settled(name)

    assert (st["phase"], st["reason"]) == ("Failed", "SourceCorrupted")
    assert st["message"] == "The stored video does not match the upload (size or checksum); upload it again."
    assert st["attempts"] == 1 and len(world.objects("pods", name)) == 1  # bad input: no retry
    assert world.mp3s_of(name) == []
    assert outcomes(world, name) == ["conversion.failed"]


def test_a_job_past_its_deadline_is_stopped_and_fails_deadline_exceeded(worlds: Worlds, media: Path) -> None:
    world = worlds.new(OperatorWorld)
    world.start_operator(OPERATOR_JOB_DEADLINE_SECONDS="10")
    name = world.submit(media / "lecture.mp4")  # 15 minutes of audio: far longer than 10 s

    st = world.wait_settled(name, timeout=120)

    assert (st["phase"], st["reason"]) == ("Failed", "DeadlineExceeded")
    assert st["message"] == "The conversion did not finish within 10s, so it was stopped."
    wait_for(
        lambda: all(
            p["metadata"].get("deletionTimestamp") or p["status"].get("phase") in ("Failed", "Succeeded")
            for p in world.objects("pods", name)
        ),
        60,
        "the converter pod to be stopped",
    )
    assert world.mp3s_of(name) == []
    assert outcomes(world, name) == ["conversion.failed"]


def test_a_converter_failing_every_attempt_fails_once_its_backoff_limit_is_spent(
    worlds: Worlds, media: Path
) -> None:
    world = worlds.new(OperatorWorld)
    # the converters are told of a MongoDB nobody listens at (the pod's own port 9): every attempt
    # fails through no fault of the video, and each is retried until the Job's backoffLimit (1)
    world.start_operator(
        OPERATOR_JOB_BACKOFF_LIMIT="1", OPERATOR_CONVERTER_MONGO_URI="mongodb://127.0.0.1:9/nowhere"
    )
    name = world.submit(media / "talk.mp4")

    st = world.wait_settled(name, timeout=180)

    assert (st["phase"], st["reason"]) == ("Failed", "ConverterError")
    assert st["message"].startswith("The conversion failed 2 times; the last attempt:"), st["message"]
    assert "ServerSelectionTimeoutError" in st["message"]
    assert st["attempts"] == 2 and len(world.objects("pods", name)) == 2
    (job,) = world.objects("jobs", name)
    assert any(
        c["reason"] == "BackoffLimitExceeded" for c in job["status"]["conditions"] if c["type"] == "Failed"
    )
    assert outcomes(world, name) == ["conversion.failed"]


def test_a_probe_over_its_time_on_every_attempt_fails_probe_timed_out_once_retries_are_spent(
    worlds: Worlds, media: Path
) -> None:
    world = worlds.new(OperatorWorld)
    # a probe limit no ffprobe meets (1 ms): each attempt times out reading the video's headers,
    # which fails the attempt, not the video (a loaded node may do better), so it is retried
    # until the Job's backoffLimit (1)
    world.start_operator(OPERATOR_JOB_BACKOFF_LIMIT="1", OPERATOR_CONVERTER_PROBE_TIMEOUT="0.001")
    name = world.submit(media / "talk.mp4")

    st = world.wait_settled(name, timeout=180)

    assert (st["phase"], st["reason"]) == ("Failed", "ProbeTimedOut")
    assert st["message"] == (
        "The conversion failed 2 times; the last attempt: Reading the video's headers took too long."
    )
    assert st["attempts"] == 2 and len(world.objects("pods", name)) == 2
    assert world.mp3s_of(name) == []
    assert outcomes(world, name) == ["conversion.failed"]
