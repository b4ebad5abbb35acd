"""A ConversionJob's status, computed from its Job and pods (pure: dicts and dataclasses in and out).

``phase`` is a convenience over the conditions (Progressing, Complete, Failed, in the Kubernetes
convention). A terminal phase is never left, but for a retry (``retried``), which starts a new
series of attempts; the status field ``transitions`` keeps the history across series.
``changes`` turns the desired status into the merge patch that writes only what differs;
the function ``transitions`` names the Kubernetes Events to record.
The Job and pods arrive as views (views.py); conditions and times are written by conditions.py
and times.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.durations import human_duration
from common.exit_codes import BAD_INPUT
from common.phases import FAILED, QUEUED, SUCCEEDED, TERMINAL
from conversion_operator import troubles
from conversion_operator.conditions import conditions_for, set_conditions
from conversion_operator.times import duration, iso
from conversion_operator.views import JobView, PodView

OUTCOMES = frozenset({SUCCEEDED, FAILED})  # the phases that publish an event
HISTORY = 30  # status.transitions keeps the latest this many
# what a retry clears: the next series starts from nothing but its history
CLEARED_ON_RETRY = (
    "progress",
    "mp3Id",
    "mp3Size",
    "audioSeconds",
    "jobName",
    "startedAt",
    "finishedAt",
    "duration",
    "outcomePublished",
    "expiresAt",
    "videoRemovedAt",
    "queue",
    "converterReport",
    "segments",
)

Status = dict[str, Any]


@dataclass(frozen=True)
class Limits:
    backoff_limit: int
    deadline_seconds: int
    memory_limit: str | None = None  # the converter's, named when it runs out
    image: str = "the converter image"  # named when it cannot be started
    queued: str = "Queued: waiting for a free conversion slot."  # before admission says where

    @property
    def max_attempts(self) -> int:
        return self.backoff_limit + 1


@dataclass(frozen=True)
class Transition:
    type: str  # Normal or Warning, as Kubernetes Events have it
    reason: str
    message: str


def next_status(
    current: Mapping[str, Any],
    *,
    generation: int,
    filename: str,
    job: JobView | None,
    pods: Sequence[PodView],
    limits: Limits,
    now: dt.datetime,
    mp3_id: str | None = None,
) -> Status:
    """The status the operator wants for a ConversionJob whose converter Job and pods look like this.
    ``mp3_id`` is the id the MP3 is stored under, for when the converter's own report is gone."""
    if current.get("phase") in TERMINAL:
        return {**current, "observedGeneration": generation}
    pods = sorted(pods, key=lambda p: p.created)
    reported = _reported(current, pods)  # the converter's own report in the status, if of this Job
    decided = _decided(pods, reported)  # the outcome the converter decides, before the Job records it
    attempts = _attempts(job, pods)
    fields: Status = {"attempts": attempts}
    if job is not None:
        fields["jobName"] = job.name
        fields["startedAt"] = job.start_time or current.get("startedAt")
        fields["segments"] = job.segments if job.segments > 1 else None
    fields["queue"] = None
    if job is None:
        phase, reason, message = "Pending", "Waiting", "Waiting for the converter Job to be created."
        fields["progress"] = 0
    elif job.suspended and job.outcome is None:
        phase, reason = QUEUED, "Queued"
        fields["queue"] = current.get("queue")
        message = queued_message(current.get("queue"), limits)
        fields["progress"] = 0
    elif (job.outcome or decided) == "Complete":
        phase, reason, message = "Succeeded", "Converted", "The MP3 is ready."
        fields.update(_result(pods, reported), progress=100)
        fields["finishedAt"] = job.finished_at or _ended_at(pods, now)
        fields["mp3Id"] = fields["mp3Id"] or mp3_id
        if fields.get("audioSeconds") is not None:
            message = succeeded_message(filename, fields, _report(pods, reported))
    elif (job.outcome or decided) == "Failed":
        phase = "Failed"
        reason, message = failure(job, pods, limits, attempts)
        fields["finishedAt"] = job.finished_at or _ended_at(pods, now)
    elif stuck := troubles.image_trouble(pods, limits.image):  # the Job would wait for its deadline
        phase, reason, message = "Failed", stuck.reason, stuck.message
        fields["finishedAt"] = iso(now)
    elif pods and _still_this_attempt(pods[-1], attempts, limits):
        phase, reason = "Running", "Converting"
        parts = f" in {job.segments} parts at once" if job.segments > 1 else ""
        message = f"Converting {filename}{parts} (attempt {attempts} of {limits.max_attempts})."
    elif any(p.phase == "Failed" for p in pods):
        phase, reason = "Pending", "Retrying"
        said = _said(_last_failed(pods))
        message = f"Attempt {attempts} of {limits.max_attempts} failed ({said.rstrip('.')}); trying again."
        fields["progress"] = 0  # the next attempt starts over
    else:
        phase, reason, message = "Pending", "Starting", "Waiting for a converter pod to start."
    fields["duration"] = duration(fields.get("startedAt"), fields.get("finishedAt"), now)
    merged: Status = {**current, **fields}
    if phase == "Succeeded" and current.get("phase") != "Running":
        # it converted before the operator saw its pod run (a short one, told by its report):
        # the story still has the attempt that ran
        running = f"Converting {filename} (attempt {max(attempts, 1)} of {limits.max_attempts})."
        merged = _with_phase(merged, "Running", "Converting", running, generation, now)
    return _with_phase(merged, phase, reason, message, generation, now)


def queued_message(queue: Mapping[str, Any] | None, limits: Limits) -> str:
    """What a queued job says: its place (written by admission), else the generic sentence."""
    return str((queue or {}).get("message") or limits.queued)


def retried(current: Mapping[str, Any], token: str, generation: int, now: dt.datetime) -> Status:
    """The status of a Failed ConversionJob asked to run again: the next series, from Pending."""
    series = int(current.get("series") or 0) + 1
    fields: Status = {k: v for k, v in current.items() if k not in CLEARED_ON_RETRY}
    fields.update(series=series, retryToken=token, attempts=0, progress=0)
    message = f"Retry requested: run {series + 1} of the conversion starts with the stored video."
    return _with_phase(fields, "Pending", "RetryRequested", message, generation, now)


def failure(job: JobView, pods: Sequence[PodView], limits: Limits, attempts: int) -> tuple[str, str]:
    """The CamelCase reason and the sentence for a failed Job, the converter's own words first."""
    last = _last_failed(pods)
    report = last.report if last else {}
    if job.reason == "DeadlineExceeded":
        limit = human_duration(limits.deadline_seconds)
        return "DeadlineExceeded", f"The conversion did not finish within {limit}, so it was stopped."
    if report.get("reason") and (job.reason == "PodFailurePolicy" or (last and last.exit_code == BAD_INPUT)):
        return str(report["reason"]), str(report.get("message") or "The video cannot be converted.")
    if troubles.oom_killed(last):
        oom = troubles.out_of_memory(attempts, limits.memory_limit)
        return oom.reason, oom.message
    times = "once" if attempts == 1 else f"{attempts} times"
    return str(report.get("reason") or job.reason or "ConversionFailed"), (
        f"The conversion failed {times}; the last attempt: {_said(last)}"
    )


def cancelled(current: Mapping[str, Any], generation: int, now: dt.datetime) -> Status:
    """The status of a ConversionJob deleted before it finished."""
    message = "The conversion was cancelled: its ConversionJob was deleted."
    fields = {**current, "finishedAt": iso(now)}
    fields["duration"] = duration(fields.get("startedAt"), fields["finishedAt"], now)
    return _with_phase(fields, "Cancelled", "Cancelled", message, generation, now)


def failed_early(
    current: Mapping[str, Any], reason: str, message: str, generation: int, now: dt.datetime
) -> Status:
    """The status of a ConversionJob refused before any Job ran (e.g. its video is gone)."""
    fields = {**current, "finishedAt": iso(now), "attempts": 0}
    return _with_phase(fields, "Failed", reason, message, generation, now)


def changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> Status:
    """The merge patch turning ``current`` into ``desired`` (only the fields that differ). A field is
    removed (null) only when ``desired`` lacks it or sets it None and it is one a retry clears."""
    patch = {k: v for k, v in desired.items() if current.get(k) != v and v is not None}
    for key in CLEARED_ON_RETRY:
        if current.get(key) is not None and desired.get(key) is None:
            patch[key] = None
    return patch


def transitions(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Transition]:
    """The Kubernetes Events that tell the story: one per change of phase, reason or message, with
    one for each step passed on the way (a Converting recorded just before Converted)."""

    def key(s: Mapping[str, Any]) -> tuple[object, ...]:
        return s.get("phase"), s.get("reason"), s.get("message")  # messages name the attempt

    def event(s: Mapping[str, Any]) -> Transition:
        warning = s.get("phase") == "Failed" or s.get("reason") == "Retrying"
        return Transition("Warning" if warning else "Normal", str(s["reason"]), str(s["message"]))

    if not new.get("phase") or key(old) == key(new):
        return []
    seen = old.get("transitions") or []
    passed = [t for t in (new.get("transitions") or [])[:-1] if t not in seen]  # steps on the way
    return [*(event(t) for t in passed), event(new)]


def is_settled(status: Mapping[str, Any]) -> bool:
    """Nothing left to do: finished, and the outcome (if it has one) published."""
    phase = status.get("phase")
    return phase in TERMINAL and (phase not in OUTCOMES or status.get("outcomePublished") == phase)


def _with_phase(
    fields: Mapping[str, Any], phase: str, reason: str, message: str, generation: int, now: dt.datetime
) -> Status:
    existing = fields.get("conditions") or []
    history = list(fields.get("transitions") or [])
    if not history or (history[-1].get("phase"), history[-1].get("reason")) != (phase, reason):
        entry = {"phase": phase, "reason": reason, "message": message, "at": iso(now)}
        history = [*history, {**entry, "series": int(fields.get("series") or 0)}][-HISTORY:]
    return {
        **fields,
        "transitions": history,
        "phase": phase,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "conditions": set_conditions(existing, conditions_for(phase, reason, message), generation, now),
    }


def succeeded_message(filename: str, fields: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    """What the converter made, in a sentence: copied or converted, the format, what was measured."""
    label = str(fields.get("audioFormat") or "mp3").upper()
    seconds = f"{fields['audioSeconds']:.1f} s"
    if fields.get("audioCopied"):
        message = f"Copied the AAC audio of {filename} into an M4A without re-encoding ({seconds})."
    else:
        message = f"Converted {filename} into {seconds} of {label} audio."
    if report.get("note"):
        message += f" Re-encoded, not copied: {report['note']}."
    if int(report.get("segments") or 1) > 1:
        message += f" Encoded in {report['segments']} parts at once, then joined."
    if fields.get("inputLoudness") is not None:
        message += f" Input loudness {fields['inputLoudness']:.1f} LUFS, normalised."
    return message


def _report(pods: Sequence[PodView], reported: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """The converter's report: its termination message, else what it patched into the status."""
    done = next((p for p in reversed(pods) if p.phase == "Succeeded" and p.report.get("mp3Id")), None)
    return (done.report if done else {}) or reported or {}


def _result(pods: Sequence[PodView], reported: Mapping[str, Any] | None = None) -> Status:
    report = _report(pods, reported)
    result = {
        "mp3Id": report.get("mp3Id"),
        "mp3Size": report.get("size"),
        "audioSeconds": report.get("audioSeconds"),
        "audioFormat": report.get("format"),
        "audioCopied": report.get("copied"),
        "inputLoudness": report.get("inputLoudness"),
    }
    return {k: v for k, v in result.items() if v is not None or k in ("mp3Id", "mp3Size", "audioSeconds")}


def _reported(current: Mapping[str, Any], pods: Sequence[PodView]) -> Mapping[str, Any] | None:
    """The report the converter patched into the status once its MP3 was stored, if a pod of this
    Job wrote it (a retry's new Job ignores the old one's) and it names the MP3."""
    report = current.get("converterReport") or {}
    if report.get("mp3Id") and report.get("pod") in {p.name for p in pods}:
        return {k: v for k, v in report.items() if k != "pod"}
    return None


def _decided(pods: Sequence[PodView], reported: Mapping[str, Any] | None = None) -> str | None:
    """The outcome ("Complete" or "Failed") the converter decides for its Job before the Job
    controller records it: it reported its MP3 stored (in the status, while its pod still ends; or
    in its termination message), or it refused the video (the bad-input code with its reason: the
    Job's pod failure policy fails the Job on it). Any other end (a crash, a kill) is the Job's to
    judge, as are retries and deadlines; and once the Job has a verdict, the Job's stands."""
    if reported:
        return "Complete"
    last = pods[-1] if pods else None
    if last is None:
        return None
    if any(p.phase == "Succeeded" and p.report.get("mp3Id") for p in pods):  # of a long video: the joiner
        return "Complete"
    if last.phase == "Failed" and last.exit_code == BAD_INPUT and last.report.get("reason"):
        return "Failed"
    return None


def _attempts(job: JobView | None, pods: Sequence[PodView]) -> int:
    """The attempt the conversion is at: pods started for it; of an Indexed Job's, the most any one
    part needed (its parts run at once, each retried on its own)."""
    if job is not None and job.segments > 1:
        per_part = Counter(p.index for p in pods)
        return max([*per_part.values(), 1 if job.active or job.succeeded else 0])
    return max(len(pods), (job.active + job.succeeded + job.failed) if job else 0)


def _ended_at(pods: Sequence[PodView], now: dt.datetime) -> str:
    return (pods[-1].finished_at if pods else None) or iso(now)


def _still_this_attempt(pod: PodView, attempts: int, limits: Limits) -> bool:
    """Running, or ended in a way the Job is about to turn into its outcome (success, bad input, the
    last attempt failed): no point announcing a retry that will not happen."""
    if pod.deleting:
        return False
    if pod.phase in ("Running", "Succeeded"):
        return True
    return pod.phase == "Failed" and (pod.exit_code == BAD_INPUT or attempts >= limits.max_attempts)


def _said(pod: PodView | None) -> str:
    """What a failed attempt said, as a sentence: the converter's message, else its exit code."""
    if pod is None:
        return "no converter pod ran."
    if troubles.oom_killed(pod):
        return "the converter ran out of memory."
    message = pod.report.get("message")
    if message:
        return str(message)
    if pod.exit_code is not None:
        return f"the converter exited with code {pod.exit_code}."
    return "the converter pod failed."


def _last_failed(pods: Sequence[PodView]) -> PodView | None:
    return next((p for p in reversed(sorted(pods, key=lambda p: p.created)) if p.phase == "Failed"), None)
