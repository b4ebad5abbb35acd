"""End to end on the chart-installed system: a registered webhook gets each outcome once, signed,
from the notification pod; each service's /metrics (GATEWAY_METRICS_URL, OPERATOR_METRICS_URL,
NOTIFICATION_METRICS_URL, through their NodePorts) moved as the job went."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from devstack.network import NODE_IP
from devstack.samples import sample_video
from devstack.stack import Stack
from tests.support.e2e_harness import User, upload, wait_until_done
from tests.support.webhook_harness import Receiver, scrape, value, verified

pytestmark = [pytest.mark.devstack, pytest.mark.e2e]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(host=NODE_IP).start()  # the pods reach the host at the node's bridge address
    yield made
    made.stop()


@pytest.mark.serial  # it counts the release's metrics by one job: no other test's job may move them
def test_a_job_reaches_its_webhook_once_and_moves_every_services_metrics(
    http: httpx.Client, urls: dict[str, str], devstack: Stack, receiver: Receiver
) -> None:
    env = devstack.env()
    metrics = {s: env[f"{s.upper()}_METRICS_URL"] for s in ("gateway", "operator", "notification")}
    before = {s: scrape(url) for s, url in metrics.items()}
    user = User(http, urls["auth"])
    hook = http.post(f"{urls['gateway']}/webhooks", json={"url": receiver.url}, headers=user.headers)
    assert hook.status_code == 201, hook.text
    secret = http.get(f"{urls['gateway']}/webhooks/secret", headers=user.headers).json()["secret"]
    video = sample_video(seconds=3)

    job_id = upload(http, urls["gateway"], user, video)
    job = wait_until_done(http, urls["gateway"], user, job_id)
    assert job["phase"] == "Succeeded", job
    deadline = time.monotonic() + 60
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # a second copy would come within the first retry delay

    [delivery] = receiver.received
    assert verified(secret, delivery)
    body = json.loads(delivery.body)
    assert body["type"] == "conversion.succeeded" and body["job"]["id"] == job_id
    after = {s: scrape(url) for s, url in metrics.items()}

    def grew(service: str, name: str, **labels: str) -> float:
        return value(after[service], name, **labels) - value(before[service], name, **labels)

    assert grew("gateway", "mp4mp3_gateway_uploads_total", status="202") == 1
    assert grew("gateway", "mp4mp3_gateway_upload_bytes_total") >= video.stat().st_size
    assert grew("operator", "mp4mp3_operator_admission_decisions_total", decision="admitted") == 1
    assert grew("operator", "mp4mp3_operator_outcomes_published_total", phase="Succeeded") == 1
    assert grew("operator", "mp4mp3_operator_conversion_seconds_count", phase="Succeeded") == 1
    assert grew("operator", "mp4mp3_operator_attempts_count", phase="Succeeded") == 1
    assert grew("notification", "mp4mp3_notification_emails_sent_total") == 1
    assert grew("notification", "mp4mp3_notification_webhook_deliveries_total", outcome="delivered") == 1
