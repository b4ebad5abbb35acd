"""Webhooks through the public API and a real notification consumer: a user registers a URL (or gives
a job a callbackUrl), and each outcome reaches a local receiver once, signed, even after the
receiver was down for a while; private addresses are refused. The tests publish the outcome events
themselves, as the operator would (no converter runs here): their names say "operator_played"."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from common import webhooks
from common.events import ConversionFailed, ConversionSucceeded, Owner
from conversion_operator.outcomes import outcome_event
from tests.support.gateway_harness import mp4_like, multipart
from tests.support.gateway_world import GatewayWorld, User
from tests.support.notification_harness import Notifier, failed_event, succeeded_event
from tests.support.webhook_harness import Receiver, scrape, value, verified

pytestmark = pytest.mark.devstack

WAIT = 30


def owned_by(event: ConversionSucceeded | ConversionFailed, user: User) -> Any:
    return event.model_copy(update={"owner": Owner(user_id=user.id, email=user.email)})


def wait_for(check: Callable[[], bool], what: str, notifier: Notifier, timeout: float = WAIT) -> None:
    notifier.wait(check, timeout, what)


def register(api: httpx.Client, user: User, url: str, **extra: Any) -> httpx.Response:
    return api.post("/webhooks", json={"url": url, **extra}, headers=user.headers)


def test_operator_played_each_outcome_reaches_the_webhook_once_signed(
    api: httpx.Client,
    signup: Callable[[], User],
    start_notifier: Callable[..., Notifier],
    receiver: Receiver,
    metrics_port: int,
) -> None:
    notifier = start_notifier(NOTIFY_METRICS_PORT=str(metrics_port))
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    user = signup()
    created = register(api, user, receiver.url)
    assert created.status_code == 201, created.text
    secret = api.get("/webhooks/secret", headers=user.headers).json()["secret"]
    succeeded = owned_by(succeeded_event(user.email, "Concert.mp4"), user)
    failed = owned_by(failed_event(user.email, "silent.mp4"), user)

    notifier.publish(succeeded)
    notifier.publish(failed)
    notifier.publish(succeeded)  # a replay of the same outcome (same event id)

    wait_for(lambda: len(receiver.received) >= 2, "two deliveries", notifier)
    time.sleep(2)  # room for a wrong third delivery (the replay) to arrive
    assert len(receiver.received) == 2
    by_type = {r.headers[webhooks.EVENT_TYPE_HEADER.lower()]: r for r in receiver.received}
    assert set(by_type) == {"conversion.succeeded", "conversion.failed"}
    for delivery in receiver.received:
        signature = delivery.headers[webhooks.SIGNATURE_HEADER.lower()]
        timestamp = delivery.headers[webhooks.TIMESTAMP_HEADER.lower()]
        assert webhooks.verify(secret, signature, timestamp, delivery.body)
        # what a receiver must refuse: another secret, a changed body, an old timestamp
        assert not webhooks.verify("whsec_not-the-secret", signature, timestamp, delivery.body)
        assert not webhooks.verify(secret, signature, timestamp, delivery.body + b" ")
        assert not webhooks.verify(secret, signature, timestamp, delivery.body, now=int(timestamp) + 3600)
    body = json.loads(by_type["conversion.succeeded"].body)
    assert body["id"] == succeeded.event_id
    assert body["job"]["id"] == succeeded.job.name and body["job"]["phase"] == "Succeeded"
    assert body["job"]["download"].endswith(f"/jobs/{succeeded.job.name}/mp3")
    assert user.email not in by_type["conversion.succeeded"].body.decode()  # no personal data
    assert json.loads(by_type["conversion.failed"].body)["job"]["reason"] == "NoAudioStream"

    [hook] = api.get("/webhooks", headers=user.headers).json()["items"]
    assert hook["url"] == receiver.url and hook["lastDelivery"]["status"] == "delivered"
    samples = scrape(metrics_url)
    assert value(samples, "mp4mp3_notification_webhook_deliveries_total", outcome="delivered") == 2
    settled = "mp4mp3_notification_messages_total"
    assert value(samples, settled, consumer="webhooks", result="webhook.delivered") == 2
    assert value(samples, settled, consumer="webhooks", result="webhook.none_pending") == 1  # the replay
    # the same outcomes were emailed once each, through the mail consumer
    assert value(samples, "mp4mp3_notification_emails_sent_total") == 2
    assert value(samples, settled, consumer="mail", result="mail.sent") == 2
    assert value(samples, settled, consumer="mail", result="mail.duplicate") == 1


def test_operator_played_a_receiver_down_for_a_while_still_gets_it_once(
    api: httpx.Client, signup: Callable[[], User], start_notifier: Callable[..., Notifier], receiver: Receiver
) -> None:
    notifier = start_notifier()
    user = signup()
    assert register(api, user, receiver.url).status_code == 201
    receiver.stop()  # the receiver's host is down: connections refused
    event = owned_by(succeeded_event(user.email), user)

    notifier.publish(event)

    def failing_twice() -> bool:
        [hook] = api.get("/webhooks", headers=user.headers).json()["items"]
        last = hook["lastDelivery"] or {}
        return last.get("status") == "failing" and last.get("attempts", 0) >= 2

    wait_for(failing_twice, "two failed attempts", notifier)
    receiver.start()
    wait_for(lambda: len(receiver.received) == 1, "the delivery once the receiver is back", notifier)
    time.sleep(3)  # longer than the retry delay: a second copy would have come by now
    assert len(receiver.received) == 1
    [delivery] = api.get("/webhooks/deliveries", headers=user.headers).json()["items"]
    assert delivery["status"] == "delivered" and delivery["attempts"] >= 3
    assert delivery["eventId"] == event.event_id


def test_operator_played_a_receiver_that_keeps_failing_is_parked_and_the_api_says_so(
    api: httpx.Client, signup: Callable[[], User], start_notifier: Callable[..., Notifier], receiver: Receiver
) -> None:
    notifier = start_notifier(NOTIFY_WEBHOOK_MAX_ATTEMPTS="3")
    receiver.answer = 500
    user = signup()
    assert register(api, user, receiver.url).status_code == 201

    notifier.publish(owned_by(failed_event(user.email), user))

    wait_for(lambda: notifier.count(f"{notifier.webhook_queue}.parked") == 1, "the message parked", notifier)
    assert len(receiver.received) == 3
    [hook] = api.get("/webhooks", headers=user.headers).json()["items"]
    assert hook["lastDelivery"]["status"] == "parked"
    assert hook["lastDelivery"]["httpStatus"] == 500 and hook["lastDelivery"]["attempts"] == 3


def test_operator_played_a_jobs_callback_url_gets_its_outcome(
    api: httpx.Client,
    world: GatewayWorld,
    signup: Callable[[], User],
    start_notifier: Callable[..., Notifier],
    receiver: Receiver,
) -> None:
    notifier = start_notifier()
    user = signup()
    headers, body = multipart(mp4_like(64 * 1024)[0], fields={"callbackUrl": receiver.url})
    accepted = api.post("/jobs", headers={**user.headers, **headers}, content=body)
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["options"]["callbackUrl"] == receiver.url
    [resource] = world.resources_of(user.id)
    assert resource["spec"]["notify"] == {"email": True, "callbackUrl": receiver.url}

    # the operator's own event builder, on the resource the gateway made, as if it had succeeded
    status = {"phase": "Succeeded", "mp3Id": "m" * 24, "mp3Size": 1000, "finishedAt": "2026-12-01T00:00:00Z"}
    notifier.publish(outcome_event(resource, status))

    wait_for(lambda: len(receiver.received) == 1, "the callback delivery", notifier)
    secret = api.get("/webhooks/secret", headers=user.headers).json()["secret"]
    [delivery] = receiver.received
    assert verified(secret, delivery)
    assert json.loads(delivery.body)["job"]["id"] == job["id"]
    [record] = api.get(f"/webhooks/deliveries?job={job['id']}", headers=user.headers).json()["items"]
    assert record["url"] == receiver.url and record["status"] == "delivered"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/x",
        "http://192.168.0.7/",
    ],
)
def test_private_addresses_are_refused_with_422(
    api: httpx.Client, signup: Callable[[], User], url: str
) -> None:
    user = signup()

    registered = register(api, user, url)
    headers, body = multipart(mp4_like(16 * 1024)[0], fields={"callbackUrl": url})
    uploaded = api.post("/jobs", headers={**user.headers, **headers}, content=body)

    for answer in (registered, uploaded):
        assert answer.status_code == 422, answer.text
        assert "private or reserved address" in answer.json()["detail"]
    assert api.get("/webhooks", headers=user.headers).json()["items"] == []
    assert api.get("/jobs", headers=user.headers).json()["total"] == 0


def test_webhook_urls_must_be_http_and_are_kept_per_user(
    api: httpx.Client, signup: Callable[[], User], receiver: Receiver
) -> None:
    user, other = signup(), signup()

    assert register(api, user, "ftp://example.com/x").status_code == 422
    assert register(api, user, "http://user:pw@127.0.0.1/x").status_code == 422
    first = register(api, user, receiver.url, events=["conversion.failed"])
    again = register(api, user, receiver.url)
    for n in range(2):
        assert register(api, user, f"{receiver.url}/{n}").status_code == 201
    too_many = register(api, user, f"{receiver.url}/3")

    assert first.status_code == 201 and first.json()["events"] == ["conversion.failed"]
    assert again.status_code == 409 and too_many.status_code == 409
    assert "3 webhooks" in too_many.json()["detail"]
    hook_id = first.json()["id"]
    assert api.delete(f"/webhooks/{hook_id}", headers=other.headers).status_code == 404
    assert api.get("/webhooks", headers=other.headers).json()["items"] == []
    assert api.delete(f"/webhooks/{hook_id}", headers=user.headers).status_code == 204
    assert len(api.get("/webhooks", headers=user.headers).json()["items"]) == 2
    old = api.get("/webhooks/secret", headers=user.headers).json()["secret"]
    new = api.post("/webhooks/secret", headers=user.headers).json()["secret"]
    assert new != old and api.get("/webhooks/secret", headers=user.headers).json()["secret"] == new
    assert api.get("/webhooks", headers={}).status_code == 401
