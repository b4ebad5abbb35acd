"""Outcome events built from a finished ConversionJob, and ConversionJobs built from requests (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common import events, messaging
from common.events import ConversionFailed, ConversionRequested, ConversionSucceeded, JobRef, Owner
from common.resources import FINALIZER
from conversion_operator.outcomes import outcome_event, routing_key
from conversion_operator.requested import RequestedConsumer, Verdict, conversionjob

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


def consumer(recorder: Recorder) -> RequestedConsumer:
    queue = messaging.ConsumerQueue("operator.requested", ("conversion.requested",))
    return RequestedConsumer("amqp://unused", queue, "media", recorder.create, recorder.video_exists, 3)


def test_verdicts_create_ignore_or_park() -> None:
    rec = Recorder()
    assert consumer(rec).decide(requested().body(), attempts=0) is Verdict.ACK
    assert [b["metadata"]["name"] for b in rec.created] == ["cj-0123456789abcdef01234567"]
    assert consumer(rec).decide(requested("elsewhere").body(), attempts=0) is Verdict.ACK  # not ours
    assert len(rec.created) == 1
    assert consumer(rec).decide(b'{"not": "an event"}', attempts=0) is Verdict.PARK
    gone = Recorder(exists=False)  # cancelled since: the video is deleted, the job is not resurrected
    assert consumer(gone).decide(requested().body(), attempts=0) is Verdict.ACK
    assert gone.created == [] and gone.asked == ["0123456789abcdef01234567"]


def test_outages_are_retried_then_parked() -> None:
    class Down(Recorder):
        def create(self, body: dict[str, Any]) -> bool:
            raise ConnectionRefusedError("API server down")

    assert consumer(Down()).decide(requested().body(), attempts=0) is Verdict.RETRY
    assert consumer(Down()).decide(requested().body(), attempts=2) is Verdict.PARK
    assert json.loads(requested().body())["type"] == "conversion.requested"


def test_an_unexpected_client_error_is_retried_not_lost() -> None:
    """The kubernetes client raises urllib3's MaxRetryError (not an ApiException) while the API
    server refuses connections: the request must be retried, then parked, never left unsettled."""

    class Unreachable(Recorder):
        def create(self, body: dict[str, Any]) -> bool:
            raise RuntimeError("Max retries exceeded with url: /apis/mp4mp3.io/v1alpha1/...")

    assert consumer(Unreachable()).decide(requested().body(), attempts=0) is Verdict.RETRY
    assert consumer(Unreachable()).decide(requested().body(), attempts=2) is Verdict.PARK
