"""What a consumer's handler may answer about one message, and what the consumer loop then does.

Pure: a handler returns a verdict (``Ack``, ``Retry`` or ``Park``); ``RetryPolicy.settle`` turns
it, with the failures the message already had, into the loop's action: ack it, requeue it through
the retry queue after a growing delay, or park it for a human. The count of failed attempts
travels with the message in ``ATTEMPTS_HEADER`` (set when it is republished), so it survives
consumer restarts and needs no x-death parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ATTEMPTS_HEADER = "mp4mp3-failed-attempts"
PARKED_REASON_HEADER = "mp4mp3-parked-reason"
PARKED_AT_HEADER = "mp4mp3-parked-at"


# --- a handler's verdicts ---


@dataclass(frozen=True)
class Ack:
    """Finished with: ``event`` (``noun.verb``, e.g. ``mail.sent``) is logged for it."""

    event: str


@dataclass(frozen=True)
class Retry:
    """The world's fault (a server down): try again later, up to the policy's limit."""

    error: str


@dataclass(frozen=True)
class Park:
    """The message's fault: retrying cannot help, keep it aside for a human. ``attempted``: this
    delivery was a failed attempt (counted), not a refusal before trying (malformed input)."""

    reason: str
    attempted: bool = True


Verdict = Ack | Retry | Park


# --- what the loop does ---


@dataclass(frozen=True)
class Requeue:
    """Republish to the retry queue, due back after ``delay`` seconds."""

    failures: int
    delay: float
    error: str


@dataclass(frozen=True)
class Parking:
    """Republish to the parking queue with ``reason``."""

    failures: int
    reason: str


Action = Ack | Requeue | Parking


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # attempts in all, the first included
    initial_delay: float  # seconds after the first failure
    factor: float  # each further delay is this times the last (1: a fixed delay)
    max_delay: float  # cap (also the retry queue's TTL, which caps per-message expirations)

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1-based)."""
        delay = self.initial_delay
        for _ in range(max(failures, 1) - 1):
            delay *= self.factor
            if delay >= self.max_delay:
                return self.max_delay
        return min(delay, self.max_delay)

    def after_failure(self, failures: int, error: str) -> Requeue | Parking:
        """What to do once ``failures`` attempts at one message have failed, the last with ``error``."""
        if failures >= self.max_attempts:
            return Parking(failures, f"gave up after {failures} failed attempts; last error: {error}")
        return Requeue(failures, self.delay(failures), error)

    def settle(self, verdict: Verdict, failures_before: int) -> Action:
        """The action for a handler's ``verdict`` on a message that had failed ``failures_before`` times."""
        if isinstance(verdict, Retry):
            return self.after_failure(failures_before + 1, verdict.error)
        if isinstance(verdict, Park):
            return Parking(failures_before + int(verdict.attempted), verdict.reason)
        return verdict


def failures_so_far(headers: Mapping[str, object] | None) -> int:
    """The failed attempts recorded on a message; 0 for a first delivery or an unreadable header."""
    value = (headers or {}).get(ATTEMPTS_HEADER)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, int | str):
        try:
            return max(int(value), 0)
        except ValueError:
            return 0
    return 0
