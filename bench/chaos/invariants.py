"""The five invariants every fault must keep, as pure functions of what the soak saw and found."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from bench.chaos.client import Answer
from bench.chaos.facts import Mail, Mp3, Queue

DURATION_TOLERANCE = 0.5  # seconds an MP3 may differ from the audio the options ask for
OUTAGE_GRACE = 30.0  # seconds after a fault's end a 503 is still explained by it (clients reconnect)


@dataclasses.dataclass
class Check:
    """One invariant: how many things it looked at, how many broke it, and which."""

    number: int
    name: str
    checked: int = 0
    failed: int = 0
    counts: dict[str, int] = dataclasses.field(default_factory=dict)  # what was seen, by kind
    failures: list[str] = dataclasses.field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.failed == 0

    def fail(self, why: str) -> None:
        self.failed += 1
        self.failures.append(why)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A job's end as the API showed it (``phase`` None: never seen; "Cancelled": deleted midway)."""

    job: str
    owner_email: str
    phase: str | None
    reason: str | None
    acknowledged: bool  # its upload was answered 202 (False: found only in GET /jobs)


def terminal(outcomes: Sequence[Outcome]) -> Check:
    check = Check(1, "every accepted upload ends Succeeded, Failed with a reason, or Cancelled")
    counted: Counter[str] = Counter()
    for job in outcomes:
        check.checked += 1
        counted[job.phase or "never seen"] += 1
        if not job.acknowledged:
            counted["not answered 202 (found in GET /jobs)"] += 1
        if job.phase == "Failed" and not job.reason:
            check.fail(f"{job.job}: Failed without a reason")
        elif job.phase not in ("Succeeded", "Failed", "Cancelled"):
            check.fail(f"{job.job}: ended {job.phase or 'unseen'}")
    check.counts = dict(counted)
    return check


def emails(outcomes: Sequence[Outcome], mails: Iterable[Mail]) -> Check:
    check = Check(2, "one email per finished job, none for a cancelled one, none to another user")
    by_job: dict[str, list[Mail]] = {}
    for mail in mails:
        by_job.setdefault(mail.job, []).append(mail)
    counted: Counter[str] = Counter()
    for job in outcomes:
        check.checked += 1
        got = by_job.get(job.job, [])
        strangers = [m for m in got if job.owner_email.lower() not in m.to]
        expected = 0 if job.phase == "Cancelled" else 1
        counted[f"{len(got)} email(s)"] += 1
        if strangers:
            check.fail(f"{job.job}: mailed to {', '.join(m.to for m in strangers)}, not its owner")
        if len(got) != expected:
            check.fail(f"{job.job} ({job.phase}): {len(got)} emails, expected {expected}")
    check.counts = dict(counted)
    return check


def mp3s(found: Sequence[Mp3], expected: dict[str, float | None]) -> Check:
    check = Check(3, "each Succeeded job's MP3 is in GridFS once and decodes to the expected duration")
    counted: Counter[str] = Counter()
    for mp3 in found:
        check.checked += 1
        want = expected.get(mp3.job)
        if mp3.copies != 1:
            check.fail(f"{mp3.job}: {mp3.copies} copies in GridFS")
        if mp3.seconds is None:
            check.fail(f"{mp3.job}: does not decode ({mp3.status} {mp3.error})")
        elif want is None or abs(mp3.seconds - want) > DURATION_TOLERANCE:
            check.fail(f"{mp3.job}: {mp3.seconds:.2f} s, expected {want}")
        else:
            counted["decoded, duration right"] += 1
    check.counts = dict(counted)
    return check


def leftovers(
    gridfs: dict[str, int], kube: dict[str, list[str]], queues: Sequence[Queue], parked_before: dict[str, int]
) -> Check:
    check = Check(4, "after deleting every job nothing of theirs is left; parked messages have reasons")
    for what, count in gridfs.items():
        check.checked += 1
        check.counts[what] = count
        if count:
            check.fail(f"{count} {what} left in MongoDB")
    for kind, names in kube.items():
        check.checked += 1
        check.counts[kind] = len(names)
        if names:
            check.fail(f"{len(names)} {kind} left: {', '.join(names[:5])}")
    for queue in queues:
        check.checked += 1
        if queue.name.endswith(".parked"):
            new = queue.messages - parked_before.get(queue.name, 0)
            check.counts[f"{queue.name} (new)"] = new
            for msg in queue.parked:
                if not msg.get("reason"):
                    check.fail(f"{queue.name}: a message parked without a reason ({msg.get('routing_key')})")
        elif queue.messages:
            check.counts[queue.name] = queue.messages
            check.fail(f"{queue.messages} message(s) left in {queue.name}")
    return check


def answers(seen: Sequence[Answer], outages: Sequence[tuple[float, float]]) -> Check:
    check = Check(5, "no 5xx to a client but a 503 with Retry-After during an outage")
    counted: Counter[str] = Counter()
    for answer in seen:
        check.checked += 1
        counted[str(answer.status) if answer.status else "no answer (connection)"] += 1
        if answer.status < 500:
            continue
        during = any(start - 1 <= answer.at <= end + OUTAGE_GRACE for start, end in outages)
        if answer.status == 503 and answer.retry_after and during:
            continue
        why = "outside any outage" if not during else "without Retry-After" if answer.status == 503 else ""
        check.fail(f"{answer.method} {answer.route}: {answer.status} {why}".rstrip())
    check.counts = dict(sorted(counted.items()))
    return check


def as_json(check: Check) -> dict[str, Any]:
    return {**dataclasses.asdict(check), "held": check.held}
