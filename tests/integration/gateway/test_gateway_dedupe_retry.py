"""Dedupe, retry and the queue through the public API of a real gateway on the devstack. No operator
runs in the gateway's world: the tests that need one play it (they write the ConversionJob's status
as the operator would) and say so in their names."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from bson import ObjectId

from common.resources import RETRY_ANNOTATION
from tests.support.gateway_harness import GatewayProcess, MiB, mp4_like
from tests.support.gateway_world import GatewayWorld, User

pytestmark = pytest.mark.devstack


def video(seed: bytes) -> bytes:
    return b"".join(mp4_like(MiB // 4, block=64 * 1024, seed=seed * (64 * 1024 // len(seed)))[0])


def upload(
    http: httpx.Client, gateway: GatewayProcess, user: User, data: bytes, **params: str
) -> httpx.Response:
    return http.post(
        f"{gateway.url}/jobs",
        headers=user.headers,
        files={"file": ("clip.mp4", data)},
        params=params,
        data={},
    )


def test_dedupe_second_identical_upload_succeeds_at_once_without_a_job_playing_the_operator(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    user, other = signup(), signup()
    data = video(b"dedupe-1")
    first = upload(http, gateway, user, data).json()
    world.complete(first["id"], b"ID3" + bytes(2000), owner=user.id)
    world.set_status(first["id"], expiresAt="2026-12-08T10:00:00Z")
    jobs_before = len(world.admin.get(world.cj_path)["items"])

    started = time.monotonic()
    second = upload(http, gateway, user, data)
    took = time.monotonic() - started

    assert second.status_code == 202
    body = second.json()
    assert (body["phase"], body["reason"], body["reusedFrom"]) == ("Succeeded", "Reused", first["id"])
    assert body["id"] != first["id"] and body["mp3Size"] == 2003
    assert body["expiresAt"] == "2026-12-08T10:00:00Z"
    assert took < 1.0, f"the reused upload took {took:.2f} s"
    assert len(world.admin.get(world.cj_path)["items"]) == jobs_before  # no ConversionJob, so no Job
    mp3 = http.get(body["download"], headers=user.headers)
    assert mp3.status_code == 200 and mp3.content == b"ID3" + bytes(2000)
    assert world.stored(user.id)["videos"] == 1  # stored once per owner

    # other options, or fresh=true: a new conversion, still the one stored video
    options = http.post(
        f"{gateway.url}/jobs",
        headers=user.headers,
        files={"file": ("clip.mp4", data)},
        data={"bitrate": "64k"},
    ).json()
    fresh = upload(http, gateway, user, data, fresh="true").json()
    stored_video = (world.conversionjob(first["id"]) or {})["spec"]["source"]["videoId"]
    for job in (options, fresh):
        assert job["phase"] == "Pending" and job.get("reason") != "Reused"
        assert (world.conversionjob(job["id"]) or {})["spec"]["source"]["videoId"] == stored_video
    assert world.stored(user.id)["videos"] == 1
    # another owner's identical bytes are theirs: stored again, converted again
    theirs = upload(http, gateway, other, data).json()
    assert theirs["phase"] == "Pending" and world.stored(other.id)["videos"] == 1

    # deleting the reused job leaves the earlier job's MP3; deleting a job whose video is shared
    # leaves the video (no finalizer runs here: the gateway deletes the files itself)
    assert http.delete(f"{gateway.url}/jobs/{body['id']}", headers=user.headers).status_code == 204
    assert http.get(f"{gateway.url}/jobs/{first['id']}/mp3", headers=user.headers).status_code == 200


def test_identical_uploads_at_once_share_one_stored_video(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    """Four uploads of the same bytes ending together (fresh: each its own conversion) all name
    one stored copy, and it is there: none deletes the copy another one kept, and none keeps its
    own because it finished before the others' copies were written (uploads started in one order
    end in another)."""
    user, data = signup(), video(b"at-once")
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: upload(http, gateway, user, data, fresh="true"), range(4)))
    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    sources = {(world.conversionjob(a.json()["id"]) or {})["spec"]["source"]["videoId"] for a in answers}
    assert len(sources) == 1
    assert world.stored(user.id)["videos"] == 1
    assert world.db["videos.files"].find_one({"_id": ObjectId(sources.pop())}) is not None


def test_retry_is_refused_unless_failed_and_annotates_a_failed_job_playing_the_operator(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    user, stranger = signup(), signup()
    job_id = upload(http, gateway, user, video(b"retry-1")).json()["id"]
    url = f"{gateway.url}/jobs/{job_id}/retry"

    pending = http.post(url, headers=user.headers)
    world.set_status(job_id, phase="Running", progress=10)
    running = http.post(url, headers=user.headers)
    world.set_status(job_id, phase="Failed", reason="ConversionFailed", message="It broke.")
    not_yours = http.post(url, headers=stranger.headers)
    retried = http.post(url, headers=user.headers)

    assert pending.status_code == 409 and pending.json()["detail"] == (
        "Only a failed job can be retried; this one is Pending."
    )
    assert running.status_code == 409 and "this one is Running" in running.json()["detail"]
    assert not_yours.status_code == 404
    assert retried.status_code == 202
    assert (retried.json()["phase"], retried.json()["reason"]) == ("Pending", "RetryRequested")
    token = (world.conversionjob(job_id) or {})["metadata"]["annotations"][RETRY_ANNOTATION]
    again = http.post(url, headers=user.headers)  # still Failed: the operator has not acted yet
    assert again.status_code == 202
    assert (world.conversionjob(job_id) or {})["metadata"]["annotations"][RETRY_ANNOTATION] != token

    world.complete(job_id, b"ID3" + bytes(10), owner=user.id)
    done = http.post(url, headers=user.headers)
    assert done.status_code == 409 and "this one is Succeeded" in done.json()["detail"]


def test_queue_place_and_expiry_show_in_the_api_playing_the_operator(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    files = {"file": ("clip.mp4", video(b"queue-1"))}
    job_id = http.post(
        f"{gateway.url}/jobs", headers=user.headers, files=files, data={"priority": "high"}
    ).json()["id"]
    assert (world.conversionjob(job_id) or {})["spec"]["priority"] == "high"
    place = {"position": 3, "reason": "ClusterCapReached", "message": "Queued at position 3: 2 running."}
    world.set_status(job_id, phase="Queued", queue=place, message=place["message"])
    queued = http.get(f"{gateway.url}/jobs/{job_id}", headers=user.headers).json()
    world.set_status(job_id, phase="Failed", queue=None, expiresAt="2026-12-08T10:00:00Z", series=1)
    failed = http.get(f"{gateway.url}/jobs/{job_id}", headers=user.headers).json()

    assert queued["phase"] == "Queued" and queued["queue"] == place
    assert queued["message"] == place["message"] and queued["expiresAt"] is None
    assert failed["queue"] is None and failed["expiresAt"] == "2026-12-08T10:00:00Z"
    assert failed["retries"] == 1
