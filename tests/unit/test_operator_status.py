"""ConversionJob status from its Job and pods (pure): phases, reasons, conditions, events."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from common.durations import human_duration
from common.exit_codes import BAD_INPUT
from conversion_operator import status
from conversion_operator.status import Limits
from conversion_operator.views import JobView, PodView

NOW = dt.datetime(2026, 5, 1, 12, 0, 30, tzinfo=dt.UTC)
T0 = "2026-05-01T12:00:00Z"
LIMITS = Limits(backoff_limit=2, deadline_seconds=1800)


def job(**fields: Any) -> JobView:
    return JobView(**{"name": "cj-1", "uid": "job-uid", "owner_uid": "cr-uid", "start_time": T0, **fields})


def pod(name: str, phase: str, created: str = T0, **fields: Any) -> PodView:
    return PodView(name=name, job_uid="job-uid", created=created, phase=phase, **fields)


def report(**fields: Any) -> str:
    return json.dumps(fields)


def desired(current: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "generation": 1,
        "filename": "talk.mp4",
        "job": None,
        "pods": [],
        "limits": LIMITS,
    }
    return status.next_status(current or {}, **{**args, **kwargs}, now=NOW)


def conditions(st: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in st["conditions"]}


def test_new_conversionjob_waits_for_its_job() -> None:
    st = desired()
    assert (st["phase"], st["reason"], st["progress"], st["attempts"]) == ("Pending", "Waiting", 0, 0)
    assert conditions(st) == {"Progressing": "True", "Complete": "False", "Failed": "False"}


def test_running_pod_makes_it_running_with_the_attempt_named() -> None:
    st = desired(job=job(active=1), pods=[pod("a", "Running")])
    assert st["phase"] == "Running"
    assert st["message"] == "Converting talk.mp4 (attempt 1 of 3)."
    assert (st["jobName"], st["startedAt"], st["duration"]) == ("cj-1", T0, "30s")
    assert "progress" not in st  # the converter's to report while it runs


def test_completed_job_reports_the_mp3_from_the_termination_message() -> None:
    done = pod("a", "Succeeded", exit_code=0, message=report(mp3Id="abc", size=1234, audioSeconds=5.04))
    st = desired(job=job(succeeded=1, outcome="Complete", finished_at="2026-05-01T12:00:12Z"), pods=[done])
    assert st["phase"] == "Succeeded"
    assert (st["mp3Id"], st["mp3Size"], st["audioSeconds"], st["progress"]) == ("abc", 1234, 5.04, 100)
    assert (st["finishedAt"], st["duration"]) == ("2026-05-01T12:00:12Z", "12s")
    assert st["message"] == "Converted talk.mp4 into 5.0 s of MP3 audio."
    assert conditions(st) == {"Progressing": "False", "Complete": "True", "Failed": "False"}


def test_completed_job_whose_pod_is_gone_still_names_the_mp3() -> None:
    st = status.next_status(
        {},
        generation=1,
        filename="a.mp4",
        job=job(outcome="Complete"),
        pods=[],
        limits=LIMITS,
        now=NOW,
        mp3_id="xyz",
    )
    assert (st["phase"], st["mp3Id"]) == ("Succeeded", "xyz")


def test_bad_input_fails_with_the_converters_own_words() -> None:
    said = report(reason="NoAudioStream", message="The video has no audio track to convert.")
    failed = pod("a", "Failed", exit_code=BAD_INPUT, message=said)
    st = desired(
        job=job(failed=1, outcome="Failed", reason="PodFailurePolicy", finished_at=T0), pods=[failed]
    )
    assert (st["phase"], st["reason"], st["attempts"]) == ("Failed", "NoAudioStream", 1)
    assert st["message"] == "The video has no audio track to convert."
    assert conditions(st) == {"Progressing": "False", "Complete": "False", "Failed": "True"}


def test_a_converter_that_stored_its_mp3_settles_it_before_the_job_records_complete() -> None:
    said = report(mp3Id="abc", size=1234, audioSeconds=5.04)
    done = pod("a", "Succeeded", exit_code=0, message=said, finished_at="2026-05-01T12:00:09Z")
    st = desired(job=job(active=1), pods=[done])  # the Job controller has not counted it yet
    assert (st["phase"], st["reason"], st["mp3Id"], st["mp3Size"], st["progress"]) == (
        "Succeeded",
        "Converted",
        "abc",
        1234,
        100,
    )
    assert (st["finishedAt"], st["duration"]) == ("2026-05-01T12:00:09Z", "9s")  # the pod's end
    assert st["message"] == "Converted talk.mp4 into 5.0 s of MP3 audio."


def test_the_converters_report_in_the_status_settles_it_while_its_pod_still_ends() -> None:
    report = {"pod": "a", "mp3Id": "abc", "size": 1234, "audioSeconds": 5.04}
    starting = desired(job=job(active=1), pods=[pod("a", "Pending")])  # its pod not yet seen running
    assert starting["reason"] == "Starting"
    reported = {**starting, "converterReport": report}
    st = desired(reported, job=job(active=1), pods=[pod("a", "Pending")])
    # the story keeps the attempt that ran, though the pod was never seen running
    assert [(t.reason, t.message) for t in status.transitions(starting, st)] == [
        ("Converting", "Converting talk.mp4 (attempt 1 of 3)."),
        ("Converted", "Converted talk.mp4 into 5.0 s of MP3 audio."),
    ]
    assert [t["reason"] for t in st["transitions"]][-2:] == ["Converting", "Converted"]
    assert (st["phase"], st["mp3Id"], st["mp3Size"], st["audioSeconds"]) == ("Succeeded", "abc", 1234, 5.04)
    assert (st["finishedAt"], st["duration"]) == ("2026-05-01T12:00:30Z", "30s")  # when it was read
    assert st["message"] == "Converted talk.mp4 into 5.0 s of MP3 audio."
    # a report left by another Job's pod (the series before a retry) is not this Job's
    stale = {"converterReport": {"pod": "old", "mp3Id": "abc", "size": 1, "audioSeconds": 1.0}}
    assert desired(stale, job=job(active=1), pods=[pod("a", "Running")])["phase"] == "Running"
    assert "converterReport" in status.CLEARED_ON_RETRY


def test_a_refused_video_fails_from_the_pod_before_the_job_records_failed() -> None:
    said = report(reason="NoAudioStream", message="The video has no audio track to convert.")
    refused = pod("a", "Failed", exit_code=BAD_INPUT, message=said, finished_at="2026-05-01T12:00:03Z")
    st = desired(job=job(active=1), pods=[refused])
    assert (st["phase"], st["reason"], st["attempts"], st["finishedAt"]) == (
        "Failed",
        "NoAudioStream",
        1,
        "2026-05-01T12:00:03Z",
    )
    assert st["message"] == "The video has no audio track to convert."


def test_other_ends_wait_for_the_jobs_verdict_and_the_jobs_verdict_stands() -> None:
    # a crash on the last attempt: the Job decides (a disruption would not count as an attempt)
    crashed = report(reason="StorageUnavailable", message="The file store did not answer.")
    last = pod("a", "Failed", exit_code=1, message=crashed)
    assert desired(job=job(active=1), pods=[last], limits=Limits(0, 1800))["phase"] == "Running"
    # exit 0 without the converter's report names no MP3: not the converter's success
    assert desired(job=job(active=1), pods=[pod("a", "Succeeded", exit_code=0)])["phase"] == "Running"
    # the Job's deadline passed as the converter finished: the Job's verdict is the one told
    stored = pod("a", "Succeeded", exit_code=0, message=report(mp3Id="abc", size=1, audioSeconds=1.0))
    late = desired(job=job(outcome="Failed", reason="DeadlineExceeded"), pods=[stored])
    assert (late["phase"], late["reason"]) == ("Failed", "DeadlineExceeded")


def test_exhausted_retries_fail_with_the_last_attempts_words() -> None:
    said = report(reason="StorageUnavailable", message="The file store did not answer.")
    pods = [
        pod(n, "Failed", created=f"2026-05-01T12:00:0{i}Z", exit_code=1, message=said)
        for i, n in enumerate("abc")
    ]
    st = desired(job=job(failed=3, outcome="Failed", reason="BackoffLimitExceeded"), pods=pods)
    assert (st["reason"], st["attempts"]) == ("StorageUnavailable", 3)
    assert st["message"] == "The conversion failed 3 times; the last attempt: The file store did not answer."


def test_a_crash_without_a_report_is_told_by_its_exit_code() -> None:
    st = desired(
        job=job(failed=1, outcome="Failed", reason="BackoffLimitExceeded"),
        pods=[pod("a", "Failed", exit_code=137)],
    )
    assert st["reason"] == "BackoffLimitExceeded"
    assert (
        st["message"] == "The conversion failed once; the last attempt: the converter exited with code 137."
    )


def test_deadline_is_explained_in_time_a_person_reads() -> None:
    st = desired(
        job=job(outcome="Failed", reason="DeadlineExceeded"), pods=[pod("a", "Failed", exit_code=143)]
    )
    assert st["reason"] == "DeadlineExceeded"
    assert st["message"] == "The conversion did not finish within 30m0s, so it was stopped."


def test_failed_attempt_with_retries_left_is_retrying_and_starts_over() -> None:
    said = report(reason="EncoderFailed", message="The audio encoder failed.")
    st = desired({"progress": 57}, job=job(failed=1), pods=[pod("a", "Failed", exit_code=1, message=said)])
    assert (st["phase"], st["reason"], st["progress"]) == ("Pending", "Retrying", 0)
    assert st["message"] == "Attempt 1 of 3 failed (The audio encoder failed); trying again."


def test_no_retry_is_announced_for_bad_input_or_the_last_attempt() -> None:
    bad = desired(job=job(failed=1), pods=[pod("a", "Failed", exit_code=BAD_INPUT)])
    assert bad["reason"] == "Converting"  # the Job is about to fail; Retrying would be a lie
    pods = [pod(n, "Failed", created=f"2026-05-01T12:00:0{i}Z", exit_code=1) for i, n in enumerate("abc")]
    assert desired(job=job(failed=3), pods=pods)["reason"] == "Converting"


def test_a_terminal_phase_is_never_left() -> None:
    done = {"phase": "Succeeded", "mp3Id": "abc", "reason": "Converted"}
    st = desired(done, generation=3, job=job(active=1), pods=[pod("b", "Running")])
    assert (st["phase"], st["mp3Id"], st["observedGeneration"]) == ("Succeeded", "abc", 3)


def test_conditions_keep_their_transition_time_while_their_status_holds() -> None:
    first = desired(job=job(active=1), pods=[pod("a", "Running")])
    later = status.next_status(
        first,
        generation=2,
        filename="talk.mp4",
        job=job(active=1),
        pods=[pod("a", "Running")],
        limits=LIMITS,
        now=NOW + dt.timedelta(minutes=5),
    )
    before = {c["type"]: c for c in first["conditions"]}
    for cond in later["conditions"]:
        assert cond["lastTransitionTime"] == before[cond["type"]]["lastTransitionTime"]
        assert cond["observedGeneration"] == 2
    done = status.next_status(
        later,
        generation=2,
        filename="talk.mp4",
        job=job(outcome="Complete"),
        pods=[],
        limits=LIMITS,
        now=NOW + dt.timedelta(minutes=6),
    )
    changed = {c["type"]: c["lastTransitionTime"] for c in done["conditions"]}
    assert changed["Complete"] == "2026-05-01T12:06:30Z"  # False -> True: a transition
    assert changed["Failed"] == before["Failed"]["lastTransitionTime"]  # False -> False: none


def test_changes_are_a_merge_patch_of_what_differs() -> None:
    current = {"phase": "Running", "progress": 40, "attempts": 1}
    assert status.changes(current, {**current, "phase": "Succeeded", "progress": 100}) == {
        "phase": "Succeeded",
        "progress": 100,
    }


def test_each_phase_change_is_one_event_and_failures_are_warnings() -> None:
    running = desired(job=job(active=1), pods=[pod("a", "Running")])
    assert status.transitions({}, running) == [
        status.Transition("Normal", "Converting", "Converting talk.mp4 (attempt 1 of 3).")
    ]
    assert status.transitions(running, running) == []
    failed = {**running, "phase": "Failed", "reason": "NoAudioStream", "message": "No audio."}
    assert status.transitions(running, failed) == [status.Transition("Warning", "NoAudioStream", "No audio.")]


def test_settled_means_finished_and_its_outcome_published() -> None:
    assert not status.is_settled({"phase": "Running"})
    assert not status.is_settled({"phase": "Succeeded"})
    assert status.is_settled({"phase": "Succeeded", "outcomePublished": "Succeeded"})
    assert status.is_settled({"phase": "Cancelled"})


def test_cancelled_and_refused_conversions_say_why() -> None:
    cancelled = status.cancelled({"phase": "Running", "startedAt": T0}, 1, NOW)
    assert (cancelled["phase"], cancelled["reason"], cancelled["duration"]) == (
        "Cancelled",
        "Cancelled",
        "30s",
    )
    refused = status.failed_early({}, "SourceMissing", "The video is gone.", 1, NOW)
    assert (refused["phase"], refused["reason"], refused["attempts"]) == ("Failed", "SourceMissing", 0)


def test_durations_read_like_kubectls() -> None:
    assert [human_duration(s) for s in (0, 12.4, 184, 3723)] == ["0s", "12s", "3m4s", "1h2m3s"]


def test_a_suspended_job_is_queued_with_its_place_and_leaves_the_queue_when_admitted() -> None:
    place = {"position": 2, "reason": "ClusterCapReached", "message": "Queued at position 2: 2 running."}
    queued = desired({"queue": place}, job=job(suspended=True))
    assert (queued["phase"], queued["reason"], queued["message"]) == ("Queued", "Queued", place["message"])
    assert queued["queue"] == place
    generic = desired(job=job(suspended=True))
    assert generic["message"] == LIMITS.queued
    admitted = desired(queued, job=job())
    assert admitted["phase"] == "Pending" and status.changes(queued, admitted)["queue"] is None
    assert [(t["phase"], t["reason"]) for t in admitted["transitions"]] == [
        ("Queued", "Queued"),
        ("Pending", "Starting"),
    ]


def test_a_retry_starts_the_next_series_from_pending_and_keeps_the_history() -> None:
    failed = desired(job=job(outcome="Failed", reason="BackoffLimitExceeded", failed=3, finished_at=T0))
    failed = {**failed, "outcomePublished": "Failed", "expiresAt": "2026-05-08T12:00:00Z"}
    again = status.retried(failed, "token-1", 1, NOW)
    patch = status.changes(failed, again)
    assert (again["phase"], again["reason"], again["series"], again["retryToken"]) == (
        "Pending",
        "RetryRequested",
        1,
        "token-1",
    )
    assert patch["outcomePublished"] is None and patch["finishedAt"] is None and patch["expiresAt"] is None
    assert [t["phase"] for t in again["transitions"]] == ["Failed", "Pending"]
    assert again["transitions"][-1]["series"] == 1
    # the next series is computed afresh, not held in the terminal phase
    assert desired(again, job=job(name="cj-x-r1"))["phase"] == "Pending"


def test_a_copied_m4a_says_it_was_copied_and_a_normalised_file_its_loudness() -> None:
    finished = job(succeeded=1, outcome="Complete", finished_at="2026-05-01T12:00:12Z")
    copied = report(mp3Id="abc", size=99, audioSeconds=3600.0, format="m4a", copied=True)
    st = desired(job=finished, pods=[pod("a", "Succeeded", exit_code=0, message=copied)])
    assert (st["audioFormat"], st["audioCopied"]) == ("m4a", True)
    assert st["message"] == "Copied the AAC audio of talk.mp4 into an M4A without re-encoding (3600.0 s)."
    loud = report(
        mp3Id="abc",
        size=99,
        audioSeconds=5.0,
        format="m4a",
        copied=False,
        inputLoudness=-23.4,
        note="loudness normalisation changes the samples",
    )
    st = desired(job=finished, pods=[pod("a", "Succeeded", exit_code=0, message=loud)])
    assert st["inputLoudness"] == -23.4 and st["audioCopied"] is False
    assert st["message"] == (
        "Converted talk.mp4 into 5.0 s of M4A audio. Re-encoded, not copied: loudness normalisation "
        "changes the samples. Input loudness -23.4 LUFS, normalised."
    )


def test_a_split_job_counts_attempts_per_part_and_succeeds_from_the_joiners_report() -> None:
    split = job(active=3, segments=3)
    parts = [pod(f"p{i}", "Running", index=i) for i in range(3)]
    st = desired(job=split, pods=parts)
    assert (st["phase"], st["attempts"], st["segments"]) == ("Running", 1, 3)
    assert st["message"] == "Converting talk.mp4 in 3 parts at once (attempt 1 of 3)."
    # part 1 failed once and runs again: the job is at its second attempt, not its fourth
    retried = [*parts, pod("p1b", "Failed", index=1, exit_code=1)]
    assert desired(job=split, pods=retried)["attempts"] == 2
    # the parts that did not join end first, with no MP3 in their report: nothing is decided yet
    stored = [pod(f"p{i}", "Succeeded", index=i, message=report(part=i, of=3, size=9)) for i in (0, 2)]
    st = desired(job=split, pods=[*stored, pod("p1", "Running", index=1)])
    assert st["phase"] == "Running"
    joiner = pod(
        "p1", "Succeeded", index=1, message=report(mp3Id="abc", size=99, audioSeconds=3600.0, segments=3)
    )
    st = desired(job=split, pods=[stored[0], joiner, stored[1]])  # the joiner is not the newest pod
    assert (st["phase"], st["mp3Id"], st["mp3Size"]) == ("Succeeded", "abc", 99)
    assert (
        st["message"]
        == "Converted talk.mp4 into 3600.0 s of MP3 audio. Encoded in 3 parts at once, then joined."
    )
