"""GET /jobs/events: a user's job changes live, in order, resumable, never another user's; the
web page's session (cookie, CSRF, CSP) and file names as browsers send them. No operator runs
here: the tests that write a job's status say they play the operator."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import pytest

from devstack.process import wait_until
from mp4mp3_cli.api import Api
from mp4mp3_cli.convert import Follow, follow
from tests.support.gateway_harness import GatewayProcess, MiB, mp4_like
from tests.support.gateway_world import GatewayWorld, User
from tests.support.sse import Event, EventStream

pytestmark = pytest.mark.devstack

VIDEO = b"".join(mp4_like(MiB // 4)[0])


def _upload(http: httpx.Client, gateway: GatewayProcess, user: User, name: str = "clip.mp4") -> str:
    resp = http.post(f"{gateway.url}/jobs", headers=user.headers, files={"file": (name, VIDEO)})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def _of(job_id: str, kind: str = "job") -> Callable[[Event], bool]:
    return lambda e: e.event == kind and e.data.get("id") == job_id


@pytest.fixture(scope="module")
def fast_heartbeat(start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_gateway(GATEWAY_EVENTS_HEARTBEAT_SECONDS="1")


def test_a_stream_sees_every_phase_in_order_resumes_with_last_event_id_and_shows_no_other_users_jobs_playing_the_operator(  # noqa: E501
    fast_heartbeat: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    gateway = fast_heartbeat
    ada, bob = signup(), signup()
    bobs_job = _upload(http, gateway, bob)
    stream = EventStream(f"{gateway.url}/jobs/events", headers=ada.headers).open()
    bobs = EventStream(f"{gateway.url}/jobs/events", headers=bob.headers).open()
    assert stream.status == 200
    assert stream.next(lambda e: e.event == "synced").data == {"jobs": 0}
    assert bobs.next(_of(bobs_job)).data["filename"] == "clip.mp4"  # his snapshot has his job

    job = _upload(http, gateway, ada, "talk.mp4")
    pending = stream.next(_of(job))
    assert (pending.data["phase"], pending.data["filename"], pending.data["size"]) == (
        "Pending",
        "talk.mp4",
        len(VIDEO),
    )
    world.set_status(job, phase="Running", progress=40, startedAt="2026-12-01T00:00:00Z")
    running = stream.next(_of(job))
    assert (running.data["phase"], running.data["progress"]) == ("Running", 40)
    assert running.id and int(running.id) > int(pending.id or 0)
    stream.close()

    # while nobody listens: more progress, then the end
    world.set_status(job, progress=80)
    world.set_status(job, phase="Succeeded", progress=100, finishedAt="2026-12-01T00:00:09Z", duration="9s")
    resumed = EventStream(
        f"{gateway.url}/jobs/events", headers={**ada.headers, "Last-Event-ID": running.id or ""}
    ).open()
    missed = [resumed.next(_of(job)), resumed.next(_of(job))]
    assert [(e.data["phase"], e.data["progress"]) for e in missed] == [("Running", 80), ("Succeeded", 100)]
    assert missed[1].data["duration"] == "9s" and missed[1].data["download"].endswith(f"/jobs/{job}/mp3")
    assert not [e for e in resumed.seen if e.event == "synced"]  # resumed, not started over
    time.sleep(2.5)
    assert resumed.comments >= 2  # heartbeats while nothing happens

    assert http.delete(f"{gateway.url}/jobs/{job}", headers=ada.headers).status_code == 204
    world.kubectl("patch", "conversionjob", job, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    resumed.next(_of(job, "deleted"))  # the finalizer (the operator's) let go: it is gone
    resumed.close()

    time.sleep(1)
    bobs.close()
    assert {e.data.get("id") for e in bobs.seen if e.event == "job"} == {bobs_job}
    assert all(e.data.get("id") != job for e in bobs.seen)
    assert all(e.data.get("id") != bobs_job for e in stream.seen + resumed.seen)
    anonymous = http.get(f"{gateway.url}/jobs/events")
    assert anonymous.status_code == 401 and "bearer token" in anonymous.json()["detail"]


def test_a_resume_point_too_old_is_answered_with_a_fresh_snapshot(
    gateway: GatewayProcess, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    job = _upload(http, gateway, user)
    stream = EventStream(f"{gateway.url}/jobs/events", headers={**user.headers, "Last-Event-ID": "1"}).open()
    stream.next(lambda e: e.event == "reset")
    assert stream.next(_of(job)).data["phase"] == "Pending"
    assert stream.next(lambda e: e.event == "synced").data == {"jobs": 1}
    stream.close()


def test_200_idle_streams_cost_the_gateway_little_cpu(
    start_gateway: Callable[..., GatewayProcess], signup: Callable[[], User]
) -> None:
    gateway = start_gateway()
    user = signup()
    proc = psutil.Process(gateway.proc.pid if gateway.proc else 0)

    def cpu_percent(seconds: float) -> float:
        before = proc.cpu_times()
        time.sleep(seconds)
        after = proc.cpu_times()
        return 100 * ((after.user - before.user) + (after.system - before.system)) / seconds

    idle = cpu_percent(20)

    async def hold_streams(count: int, seconds: float) -> float:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(60, read=None), limits=httpx.Limits(max_connections=None)
        ) as client:
            synced = 0

            async def one() -> None:
                nonlocal synced
                async with client.stream("GET", f"{gateway.url}/jobs/events", headers=user.headers) as resp:
                    assert resp.status_code == 200
                    async for line in resp.aiter_lines():
                        if line.startswith("event: synced"):
                            synced += 1
                        if stop.is_set():
                            return

            stop = asyncio.Event()
            tasks = [asyncio.create_task(one()) for _ in range(count)]
            deadline = time.monotonic() + 120
            while synced < count and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            assert synced == count, f"only {synced} of {count} streams synced"
            busy = await asyncio.to_thread(cpu_percent, seconds)  # 20 s: every stream sends a heartbeat
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return busy

    streaming = asyncio.run(hold_streams(200, 20))
    print(f"\ngateway CPU: {idle:.2f}% idle, {streaming:.2f}% with 200 idle event streams (of one core)")
    assert streaming < idle + 5.0, (idle, streaming)


def test_the_cli_follows_a_job_live_not_by_polling_playing_the_operator(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    job = _upload(http, gateway, user)
    updates: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    slow_polls = Follow(poll_seconds=120, patience_seconds=10)  # polling could not finish in time

    def run() -> None:
        with Api(gateway.url, user.token) as api:
            result.update(follow(api, job, updates.append, threading.Event(), slow_polls))

    follower = threading.Thread(target=run, daemon=True)
    follower.start()
    wait_until(lambda: any(u["phase"] == "Pending" for u in updates), 30, "the CLI to see the job")
    world.set_status(job, phase="Running", progress=50)
    wait_until(lambda: any(u["phase"] == "Running" for u in updates), 30, "the CLI to see it running")
    world.set_status(job, phase="Succeeded", progress=100)
    follower.join(30)

    assert result["phase"] == "Succeeded"
    phases = [u["phase"] for u in updates]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == [
        "Pending",
        "Running",
        "Succeeded",
    ]
