"""Outcome events built from a finished ConversionJob, and ConversionJobs built from requests (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common import events
from common.consumer import MalformedMessage, parse_event
from common.events import ConversionFailed, ConversionRequested, ConversionSucceeded, JobRef, Owner
from common.resources import FINALIZER
from common.retries import Ack, Parking, Requeue, Retry
from conversion_operator.outcomes import outcome_event, routing_key
from conversion_operator.requested import Requested, build_consumer, conversionjob

CR: dict[str, Any] = {
    "metadata": {"name": "cj-0123456789abcdef01234567", "namespace": "media", "uid": "cr-uid"},
    "spec": {
        "source": {"videoId": "0123456789abcdef01234567", "filename": "talk.mp4", "size": 9},
        "owner": {"userId": "42", "email": "ada@example.com"},
    },
}


def test_success_event_names_the_mp3_and_is_stable_across_replays() -> None:
    st = {
        "phase": "Succeeded",
        "mp3Id": "abc",
        "mp3Size": 10,
        "audioSeconds": 5.0,
        "finishedAt": "2026-05-01T12:00:00Z",
    }
    first, again = outcome_event(CR, st), outcome_event(CR, st)
    assert isinstance(first, ConversionSucceeded)
    assert first == again  # same id and time: a replay is recognisably the same fact
    assert first.event_id == events.outcome_event_id("cr-uid", "Succeeded")
    assert (first.mp3_id, first.source_filename, first.owner.email) == ("abc", "talk.mp4", "ada@example.com")
    assert routing_key(first) == "conversion.succeeded"
    assert events.parse(first.body()) == first


def test_failure_event_carries_reason_and_sentence() -> None:
    st = {"phase": "Failed", "reason": "NoAudioStream", "message": "The video has no audio track to convert."}
    event = outcome_event(CR, st)
    assert isinstance(event, ConversionFailed)
    assert (event.reason, event.message) == ("NoAudioStream", "The video has no audio track to convert.")
    assert event.event_id == events.outcome_event_id("cr-uid", "Failed")
    assert routing_key(event) == "conversion.failed"


def test_unfinished_phases_have_no_outcome() -> None:
    with pytest.raises(ValueError, match="no outcome"):
        outcome_event(CR, {"phase": "Running"})


def requested(namespace: str = "media") -> ConversionRequested:
    return ConversionRequested(
        event_id=events.requested_event_id(namespace, CR["metadata"]["name"]),
        job=JobRef(name=CR["metadata"]["name"], namespace=namespace),
        owner=Owner(user_id="42", email="ada@example.com"),
        spec=CR["spec"],
        labels={"mp4mp3.io/owner": "42"},
    )


def test_requested_event_becomes_the_conversionjob_with_our_finalizer() -> None:
    body = conversionjob(requested())
    assert body["metadata"] == {
        "name": "cj-0123456789abcdef01234567",
        "namespace": "media",
        "labels": {"mp4mp3.io/owner": "42"},
        "finalizers": [FINALIZER],
    }
    assert body["spec"] == CR["spec"]


class Recorder:
    """Stands in for the two calls the verdict needs, recording what was asked."""

    def __init__(self, exists: bool = True) -> None:
        self.exists = exists
        self.created: list[dict[str, Any]] = []
        self.asked: list[str] = []

    def create(self, body: dict[str, Any]) -> bool:
        self.created.append(body)
        return True

    def video_exists(self, video_id: str) -> bool:
        self.asked.append(video_id)
        return self.exists


def handler(recorder: Recorder) -> Requested:
    return Requested("media", recorder.create, recorder.video_exists)


def settled(recorder: Recorder, body: bytes, failures_before: int) -> Ack | Requeue | Parking:
    """What the operator's consumer loop does with ``body`` (3 attempts at most), the handler
    called as the loop calls it."""
    consumer = build_consumer("amqp://unused", "operator.requested", handler(recorder), 3, 5000)
    return consumer.policy.settle(consumer.handler(consumer.parse(body)), failures_before)


def test_verdicts_create_ignore_or_park() -> None:
    rec = Recorder()
    assert handler(rec).handle(requested()) == Ack("request.created")
    assert [b["metadata"]["name"] for b in rec.created] == ["cj-0123456789abcdef01234567"]
    assert handler(rec).handle(requested("elsewhere")) == Ack("request.elsewhere")  # not ours
    assert len(rec.created) == 1
    with pytest.raises(MalformedMessage):  # the loop parks it at once
        parse_event(b'{"not": "an event"}')
    gone = Recorder(exists=False)  # cancelled since: the video is deleted, the job is not resurrected
    assert handler(gone).handle(requested()) == Ack("request.video_gone")
    assert gone.created == [] and gone.asked == ["0123456789abcdef01234567"]


def test_outages_are_retried_then_parked() -> None:
    class Down(Recorder):
        def create(self, body: dict[str, Any]) -> bool:
            raise ConnectionRefusedError("API server down")

    assert isinstance(handler(Down()).handle(requested()), Retry)
    assert settled(Down(), requested().body(), failures_before=0) == Requeue(
        1, 5.0, "ConnectionRefusedError: API server down"
    )
    assert isinstance(settled(Down(), requested().body(), failures_before=2), Parking)
    assert json.loads(requested().body())["type"] == "conversion.requested"


def test_an_unexpected_client_error_is_retried_not_lost() -> None:
    """The kubernetes client raises urllib3's MaxRetryError (not an ApiException) while the API
    server refuses connections: the request must be retried, then parked, never left unsettled."""

    class Unreachable(Recorder):
        def create(self, body: dict[str, Any]) -> bool:
            raise RuntimeError("Max retries exceeded with url: /apis/mp4mp3.io/v1alpha1/...")

    assert isinstance(settled(Unreachable(), requested().body(), failures_before=0), Requeue)
    assert isinstance(settled(Unreachable(), requested().body(), failures_before=2), Parking)


def test_by_default_a_request_outlives_an_api_server_outage_of_an_hour() -> None:
    """The gateway has answered 202: conversion.requested is parked only after an hour of the API
    server refusing (with the settings' defaults), not after half a minute."""
    from conversion_operator.settings import Settings

    fields = Settings.model_fields
    attempts = fields["requested_max_attempts"].default
    delay_ms = fields["requested_retry_delay_ms"].default
    consumer = build_consumer("amqp://unused", "q", handler(Recorder()), attempts, delay_ms)
    waited, failures = 0.0, 0
    while True:
        failures += 1
        action = consumer.policy.settle(Retry("API server unreachable"), failures - 1)
        if isinstance(action, Parking):
            break
        assert isinstance(action, Requeue)
        waited += action.delay
    assert waited >= 3600
