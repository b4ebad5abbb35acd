"""The chaos soak's pure parts: its seeded schedule and how each invariant judges what was seen."""

from __future__ import annotations

from bench.chaos import faults, invariants
from bench.chaos.client import Answer
from bench.chaos.facts import Mail, Mp3, Queue
from bench.chaos.invariants import Outcome


def outcome(job: str, phase: str | None, reason: str | None = None, owner: str = "a@x") -> Outcome:
    return Outcome(job, owner, phase, reason, acknowledged=True)


def test_the_same_seed_draws_the_same_schedule_and_every_kind_before_a_repeat() -> None:
    first = faults.schedule(7, len(faults.KINDS) + 2, 300)

    assert first == faults.schedule(7, len(faults.KINDS) + 2, 300)
    assert {f.kind for f in first[: len(faults.KINDS)]} == set(faults.KINDS)
    assert [f.at for f in first] == sorted(f.at for f in first)
    assert all(f.outage == 60.0 for f in first if f.kind == "smtp")


def test_a_job_left_running_or_failed_without_a_reason_breaks_invariant_1() -> None:
    check = invariants.terminal(
        [
            outcome("a", "Succeeded"),
            outcome("b", "Failed", "NoAudioStream"),
            outcome("c", "Running"),
            outcome("d", "Failed"),
            outcome("e", "Cancelled"),
        ]
    )

    assert check.failed == 2
    assert check.counts["Succeeded"] == 1


def test_a_second_email_an_email_for_a_cancelled_job_or_to_a_stranger_break_invariant_2() -> None:
    jobs = [
        outcome("a", "Succeeded"),
        outcome("b", "Succeeded"),
        outcome("c", "Cancelled"),
        outcome("d", "Failed", "X"),
    ]
    mails = [
        Mail("a", "a@x", "1"),
        Mail("b", "a@x", "2"),
        Mail("b", "a@x", "3"),
        Mail("c", "a@x", "4"),
        Mail("d", "b@y", "5"),
    ]

    check = invariants.emails(jobs, mails)

    assert len(check.failures) == 3  # b mailed twice, c mailed at all, d mailed to a stranger
    assert any("not its owner" in f for f in check.failures)


def test_an_mp3_stored_twice_or_of_the_wrong_length_breaks_invariant_3() -> None:
    found = [Mp3("a", 1, 200, 8.02), Mp3("b", 2, 200, 8.0), Mp3("c", 1, 200, 6.0), Mp3("d", 1, 404, None)]

    check = invariants.mp3s(found, {"a": 8.0, "b": 8.0, "c": 8.0, "d": 8.0})

    assert check.failed == 3


def test_leftovers_and_unexplained_parked_messages_break_invariant_4() -> None:
    queues = [
        Queue("operator.requested", 0, []),
        Queue("notification.outcomes", 2, []),
        Queue(
            "notification.outcomes.parked", 2, [{"routing_key": "k", "reason": "bad"}, {"routing_key": "k"}]
        ),
    ]

    check = invariants.leftovers({"videos.files": 0, "mp3s.files": 1}, {"Job": [], "Pod": ["p"]}, queues, {})

    assert check.failed == 4  # an mp3, a pod, two messages waiting, one parked without a reason
    assert check.counts["notification.outcomes.parked (new)"] == 2


def test_only_a_503_with_retry_after_during_an_outage_is_a_fine_5xx() -> None:
    seen = [
        Answer(100.0, "GET", "/jobs/{id}", 503, "5"),  # during the outage: fine
        Answer(100.0, "GET", "/jobs/{id}", 503, None),  # no Retry-After
        Answer(500.0, "GET", "/jobs/{id}", 503, "5"),  # long after the outage
        Answer(100.0, "POST", "/jobs", 500, None),
        Answer(100.0, "POST", "/jobs", 0, None, "ConnectError"),  # no answer: counted, not judged
    ]

    check = invariants.answers(seen, [(90.0, 110.0)])

    assert check.failed == 3
    assert check.counts["no answer (connection)"] == 1


def test_only_a_running_containers_pid_is_killed_never_pid_0() -> None:
    running = {"status": {"state": "CONTAINER_RUNNING"}, "info": {"pid": 4242}}
    exited = {"status": {"state": "CONTAINER_EXITED"}, "info": {"pid": 0}}

    assert faults.running_pid(running) == 4242
    assert faults.running_pid(exited) is None  # os.kill(0, ...) would hit the soak's own group
    assert faults.running_pid({"status": {"state": "CONTAINER_RUNNING"}, "info": {}}) is None
