"""Retry (the mp4mp3.io/retry annotation) and retention on the devstack, through kubectl and the
admin client, with operator processes of this checkout.

No converter runs here: each world holds its pods off the node (OperatorWorld.hold_pods) and the
test plays the converter (play_converter), as its name says; tests/e2e/test_retry.py retries a job
for real."""

from __future__ import annotations

from pathlib import Path

import gridfs
import pytest
from bson import ObjectId

from common.resources import CHUNK_SIZE, RETRY_ANNOTATION
from devstack.process import wait_until as wait_for
from tests.support.operator_world import OperatorWorld, play_converter
from tests.support.world import Worlds

pytestmark = pytest.mark.devstack

TRANSIENT = {"reason": "StorageUnavailable", "message": "MongoDB did not answer in time."}


def reasons(world: OperatorWorld, name: str) -> list[str]:
    return [e["reason"] for e in world.events_of(name)]


def video_stored(world: OperatorWorld, video_id: str) -> bool:
    return world.db["videos.files"].find_one({"_id": ObjectId(video_id)}) is not None


def test_retry_of_a_transient_failure_ends_succeeded_with_one_new_outcome_playing_the_converter(
    worlds: Worlds, tmp_path: Path
) -> None:
    world = worlds.new(OperatorWorld)
    world.hold_pods()  # no converter runs: the test plays it
    world.start_operator(OPERATOR_JOB_BACKOFF_LIMIT="0")  # one failed attempt fails the Job
    video = tmp_path / "fake.mp4"
    video.write_bytes(b"\x00" * 64)  # never converted: the test plays the converter
    name = world.submit(video, owner="ada")
    play_converter(world, name, exit_code=1, report=TRANSIENT)
    failed = world.wait_settled(name)
    assert (failed["phase"], failed["reason"]) == ("Failed", "StorageUnavailable")

    done = world.kubectl("annotate", "--overwrite", "cvj", name, f"{RETRY_ANNOTATION}=first")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: world.status(name).get("series") == 1, 30, "the retry to start a new series")
    wait_for(
        lambda: not any(j["metadata"]["name"] == name for j in world.objects("jobs", name)),
        60,
        "the old Job to go",
    )
    play_converter(world, name, job=f"{name}-r1")
    st = world.wait_settled(name)

    assert (st["phase"], st["series"], st["retryToken"]) == ("Succeeded", 1, "first")
    assert st["attempts"] == 1 and st["jobName"] == f"{name}-r1"
    assert [j["metadata"]["name"] for j in world.objects("jobs", name)] == [f"{name}-r1"]
    assert len(world.mp3s_of(name)) == 1
    history = [(t["phase"], t["reason"], t["series"]) for t in st["transitions"]]
    assert ("Failed", "StorageUnavailable", 0) in history
    assert history.index(("Pending", "RetryRequested", 1)) > history.index(
        ("Failed", "StorageUnavailable", 0)
    )
    assert history[-1] == ("Succeeded", "Converted", 1)
    events = world.tap.events_for(name)  # what the notification service emails from
    assert [e["type"] for e in events] == ["conversion.failed", "conversion.succeeded"]
    assert events[0]["event_id"] != events[1]["event_id"]
    wait_for(lambda: "RetryRequested" in reasons(world, name), 10, "a RetryRequested Event")

    # a Succeeded job is not retried: the token is recorded and an Event says why
    world.kubectl("annotate", "--overwrite", "cvj", name, f"{RETRY_ANNOTATION}=second")
    wait_for(lambda: world.status(name).get("retryToken") == "second", 30, "the second token to be seen")
    assert world.status(name)["phase"] == "Succeeded" and world.status(name)["series"] == 1
    wait_for(lambda: "RetryRefused" in reasons(world, name), 30, "a RetryRefused Event")
    assert len(world.tap.events_for(name)) == 2


def test_retention_removes_job_video_and_mp3_and_nothing_else_playing_the_converter(
    worlds: Worlds, tmp_path: Path
) -> None:
    world = worlds.new(OperatorWorld)
    world.hold_pods()  # no converter runs: the test plays it
    world.start_operator(
        OPERATOR_RETENTION_SECONDS="3600",
        OPERATOR_RETENTION_MIN_SECONDS="1",
        OPERATOR_VIDEO_RETENTION_SECONDS="2",
        OPERATOR_RETENTION_CHECK_SECONDS="1",
    )
    video = tmp_path / "fake.mp4"
    video.write_bytes(b"\x00" * 64)  # never converted: the test plays the converter
    short = world.submit(video, owner="ada", retentionSeconds=6)
    kept = world.submit(video, owner="ada")  # the default retention: an hour
    waiting = world.submit(video, owner="bob")  # admitted, never finished
    for name in (short, kept, waiting):
        world.db["jobs"].insert_one({"_id": name, "owner": "x", "videoId": name[3:]})  # the gateway's records
    play_converter(world, short)
    play_converter(world, kept)
    st = world.wait_settled(short)
    world.wait_settled(kept)
    assert st["expiresAt"] > st["finishedAt"]
    short_mp3 = ObjectId(st["mp3Id"])

    # first the videos of finished jobs go (video retention 2 s); the MP3s stay
    wait_for(lambda: world.status(short).get("videoRemovedAt"), 30, "the video to be removed early")
    assert not video_stored(world, short[3:]) and len(world.mp3s_of(short)) == 1
    # Kopf posts Events from a queue of its own, so one can land a moment after the status
    wait_for(lambda: "VideoRemoved" in reasons(world, short), 10, "a VideoRemoved Event")

    # then the whole job (6 s): the ConversionJob, its Job, its MP3 and its record
    wait_for(lambda: world.conversionjob(short) is None, 60, "the expired job to be removed")
    wait_for(lambda: not world.objects("jobs", short), 30, "its Job to go")
    assert world.mp3s_of(short) == [] and world.db["jobs"].find_one({"_id": short}) is None
    wait_for(lambda: "Expired" in reasons(world, short), 10, "an Expired Event")
    bucket = gridfs.GridFSBucket(world.db, bucket_name="mp3s", chunk_size_bytes=CHUNK_SIZE)
    assert list(bucket.find({"_id": short_mp3})) == []

    # nothing else: the other finished job keeps its ConversionJob, Job, MP3 and record; the
    # unfinished one its video too
    assert world.status(kept)["phase"] == "Succeeded" and world.objects("jobs", kept)
    assert len(world.mp3s_of(kept)) == 1 and world.db["jobs"].find_one({"_id": kept}) is not None
    assert world.conversionjob(waiting) is not None and video_stored(world, waiting[3:])
    assert world.status(waiting).get("expiresAt") is None
