"""Each service's Prometheus metrics move as a user would expect after a job, parsed from /metrics:
the gateway's request and upload counters, the operator's phases, admissions, waits, durations and
outcomes. No node runs here: the operator test plays the converter (and the Job controller's verdict)
by writing the converter Job's status, and says so in its name. The notification's metrics are
checked with the deliveries they count (tests/integration/webhooks)."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import httpx
import pytest
from bson import ObjectId

from devstack.process import wait_until
from devstack.stack import Stack
from tests.support.gateway_harness import GatewayProcess, free_port, mp4_like, multipart
from tests.support.gateway_world import GatewayWorld, sign_up
from tests.support.operator_world import OperatorWorld
from tests.support.webhook_harness import scrape, value
from tests.support.world import Worlds

pytestmark = pytest.mark.devstack

UPLOAD_BYTES = 300 * 1024


def test_gateway_metrics_count_requests_by_route_and_the_upload(
    worlds: Worlds, devstack: Stack, tmp_path: Path
) -> None:
    world = worlds.new(GatewayWorld)
    world.auth_url = devstack["auth"].env()["AUTH_URL"]
    gateway = GatewayProcess(world.env(), tmp_path / "gateway.log").start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=60) as api:
            auth = sign_up(world.auth_url, "m").headers
            before = scrape(f"{gateway.url}/metrics")
            headers, body = multipart(mp4_like(UPLOAD_BYTES)[0])

            job = api.post("/jobs", headers={**auth, **headers}, content=body)
            assert job.status_code == 202, job.text
            assert api.get(f"/jobs/{job.json()['id']}", headers=auth).status_code == 200
            assert api.get("/jobs/cj-000000000000000000000000", headers=auth).status_code == 404
            assert "/metrics" not in api.get("/openapi.json").json()["paths"]
            after = scrape(f"{gateway.url}/metrics")
    finally:
        gateway.stop()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "mp4mp3_gateway_requests_total"
    assert grew(requests, method="POST", route="/jobs", status="202") == 1
    assert grew(requests, method="GET", route="/jobs/{job_id}", status="200") == 1
    assert grew(requests, method="GET", route="/jobs/{job_id}", status="404") == 1
    assert grew("mp4mp3_gateway_request_duration_seconds_count", method="POST", route="/jobs") == 1
    assert grew("mp4mp3_gateway_uploads_total", status="202") == 1
    assert grew("mp4mp3_gateway_upload_duration_seconds_count") == 1
    assert UPLOAD_BYTES < grew("mp4mp3_gateway_upload_bytes_total") < UPLOAD_BYTES + 4096  # + multipart


def test_operator_metrics_follow_two_jobs_converter_played(worlds: Worlds, tmp_path: Path) -> None:
    world = worlds.new(OperatorWorld)
    world.hold_pods()  # no converter runs: the test plays it
    port = free_port()
    # no converter runs, so no image is needed (nor built)
    operator = world.start_operator(
        OPERATOR_METRICS_PORT=str(port), OPERATOR_CONVERTER_IMAGE="localhost/none:never"
    )
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until(lambda: _answers(url), 30, f"the operator's /metrics ({operator.log_tail()})")
    before = scrape(url)

    # one job whose video is gone: refused before any Job is made
    gone = {"videoId": str(ObjectId()), "filename": "gone.mp4", "size": 1, "sha256": "0" * 64}
    done = world.kubectl("apply", "-f", "-", stdin=_yaml(world.manifest(gone)))
    assert done.returncode == 0, done.stderr
    # one that gets a Job, which "succeeds" when we write its status as the Job controller would
    video = tmp_path / "talk.mp4"
    video.write_bytes(secrets.token_bytes(4096))
    name = world.submit(video)
    wait_until(lambda: bool(world.objects("jobs", name)), 60, f"the Job of {name} ({operator.log_tail()})")
    _play_a_successful_job(world, name, seconds=7)

    failed = world.wait_settled(world.manifest(gone)["metadata"]["name"])
    succeeded = world.wait_settled(name)
    assert (failed["phase"], succeeded["phase"]) == ("Failed", "Succeeded")
    after = scrape(url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("mp4mp3_operator_admission_decisions_total", decision="admitted") == 1
    assert grew("mp4mp3_operator_admission_decisions_total", decision="refused") == 1
    assert grew("mp4mp3_operator_queue_wait_seconds_count") == 1
    assert grew("mp4mp3_operator_outcomes_published_total", phase="Failed") == 1
    assert grew("mp4mp3_operator_outcomes_published_total", phase="Succeeded") == 1
    assert grew("mp4mp3_operator_conversion_seconds_count", phase="Succeeded") == 1
    assert 6 <= grew("mp4mp3_operator_conversion_seconds_sum", phase="Succeeded") <= 8
    assert grew("mp4mp3_operator_attempts_count", phase="Succeeded") == 1
    assert value(after, "mp4mp3_operator_conversionjobs", phase="Succeeded") == 1
    assert value(after, "mp4mp3_operator_conversionjobs", phase="Failed") == 1
    assert value(after, "mp4mp3_operator_conversionjobs", phase="Pending") == 0
    assert value(after, "mp4mp3_operator_outcome_publish_failures_total") == 0


def _play_a_successful_job(world: OperatorWorld, name: str, seconds: int) -> None:
    """Write the Job status the Job controller writes when the converter's pod succeeded."""
    path = f"/apis/batch/v1/namespaces/{world.namespace}/jobs/{name}/status"
    # Jobs are created suspended; once admitted the Job controller sets startTime, which may then
    # not be removed or moved (Kubernetes 1.34 validates it): play the rest from that moment
    wait_until(lambda: bool(world.admin.get(path).get("status", {}).get("startTime")), 60, f"{name} admitted")
    job = world.admin.get(path)
    started = dt.datetime.fromisoformat(job["status"]["startTime"].replace("Z", "+00:00"))
    finished = started + dt.timedelta(seconds=seconds)
    stamp = {"startTime": _iso(started), "completionTime": _iso(finished)}
    conditions = [
        {"type": kind, "status": "True", "reason": reason, "lastTransitionTime": _iso(finished)}
        for kind, reason in (("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached"))
    ]
    status = {**stamp, "active": 0, "ready": 0, "terminating": 0, "succeeded": 1, "conditions": conditions}
    world.admin.patch(path, {"status": status})


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _yaml(doc: dict) -> str:
    import yaml

    return yaml.safe_dump(doc)
