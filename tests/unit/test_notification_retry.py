"""The retry policy of failed sends (the common consumer loop's, as notification configures it) and
how the consumer reads the messages it is given."""

from __future__ import annotations

import json

import pytest

from common.events import ConversionFailed, ConversionRequested, ConversionSucceeded, JobRef, Owner
from common.retries import (
    ATTEMPTS_HEADER,
    Ack,
    Park,
    Parking,
    Requeue,
    Retry,
    RetryPolicy,
    failures_so_far,
)
from notification.consumer import MalformedMessage, consumer_queue, parse_outcome

POLICY = RetryPolicy(max_attempts=5, initial_delay=2.0, factor=3.0, max_delay=30.0)
JOB = JobRef(name="cj-65a1b2c3d4e5f60718293a4b", namespace="mp4mp3")
OWNER = Owner(user_id="7", email="ann@example.com")


def test_delays_grow_by_the_factor_up_to_the_cap() -> None:
    assert [POLICY.delay(n) for n in range(1, 6)] == [2.0, 6.0, 18.0, 30.0, 30.0]


def test_a_huge_failure_count_gives_the_cap_not_an_overflow() -> None:
    assert POLICY.delay(10_000) == 30.0


def test_failures_below_the_limit_are_retried_with_the_growing_delay() -> None:
    assert POLICY.after_failure(1, "connection refused") == Requeue(1, 2.0, "connection refused")
    assert POLICY.after_failure(4, "timeout") == Requeue(4, 30.0, "timeout")


def test_the_last_allowed_attempt_failing_parks_the_message_with_the_error() -> None:
    decision = POLICY.after_failure(5, "connection refused")
    assert isinstance(decision, Parking) and decision.failures == 5
    assert "5 failed attempts" in decision.reason and "connection refused" in decision.reason


def test_a_single_attempt_policy_parks_at_the_first_failure() -> None:
    assert isinstance(RetryPolicy(1, 1.0, 2.0, 5.0).after_failure(1, "x"), Parking)


def test_a_handlers_retry_counts_one_more_failure_and_parks_at_the_limit() -> None:
    assert POLICY.settle(Retry("timeout"), failures_before=0) == Requeue(1, 2.0, "timeout")
    assert POLICY.settle(Retry("timeout"), failures_before=2) == Requeue(3, 18.0, "timeout")
    parked = POLICY.settle(Retry("timeout"), failures_before=4)
    assert isinstance(parked, Parking) and parked.failures == 5 and "timeout" in parked.reason


def test_a_handlers_park_is_kept_with_its_reason_counting_only_a_failed_attempt() -> None:
    assert POLICY.settle(Park("550 mailbox unavailable"), failures_before=0) == Parking(
        1, "550 mailbox unavailable"
    )
    assert POLICY.settle(Park("no recipient", attempted=False), failures_before=2) == Parking(
        2, "no recipient"
    )


def test_an_ack_is_acked() -> None:
    assert POLICY.settle(Ack("mail.sent"), failures_before=3) == Ack("mail.sent")


@pytest.mark.parametrize(
    ("headers", "count"),
    [
        (None, 0),
        ({}, 0),
        ({ATTEMPTS_HEADER: 3}, 3),
        ({ATTEMPTS_HEADER: b"2"}, 2),
        ({ATTEMPTS_HEADER: "x"}, 0),
        ({ATTEMPTS_HEADER: -4}, 0),
        ({ATTEMPTS_HEADER: [1]}, 0),
    ],
)
def test_failures_so_far_reads_the_header_and_tolerates_garbage(headers: dict | None, count: int) -> None:
    assert failures_so_far(headers) == count


def test_outcome_events_parse() -> None:
    ok = ConversionSucceeded(event_id="e1", job=JOB, owner=OWNER, source_filename="a.mp4", mp3_id="m")
    bad = ConversionFailed(
        event_id="e2", job=JOB, owner=OWNER, source_filename="a.mp4", reason="R", message="M"
    )
    assert parse_outcome(ok.body()) == ok
    assert parse_outcome(bad.body()) == bad


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"type": "conversion.succeeded", "event_id": "e"}).encode(),  # fields missing
        json.dumps({"type": "conversion.exploded"}).encode(),
    ],
)
def test_anything_that_is_not_an_outcome_event_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_outcome(body)


def test_a_requested_event_on_our_queue_is_malformed_for_us() -> None:
    requested = ConversionRequested(event_id="e", job=JOB, owner=OWNER, spec={})
    with pytest.raises(MalformedMessage, match="not an outcome event"):
        parse_outcome(requested.body())


def test_the_retry_queue_ttl_is_the_longest_delay() -> None:
    queue = consumer_queue("notification.outcomes", 600.0)
    assert queue.retry == "notification.outcomes.retry" and queue.parked == "notification.outcomes.parked"
    assert queue.retry_delay_ms == 600_000
    assert set(queue.routing_keys) == {"conversion.succeeded", "conversion.failed"}
