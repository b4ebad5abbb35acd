"""When a failed send is tried again and when it is given up: growing delays, then the parking queue.

Pure: the consumer asks ``after_failure`` what to do and carries the answer out on the broker.
The count of failed sends travels with the message in the ``ATTEMPTS_HEADER`` header (set when it
is republished to the retry queue), so it survives consumer restarts and needs no x-death parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ATTEMPTS_HEADER = "notification-failed-attempts"


@dataclass(frozen=True)
class Done:
    """The message is finished with: its email was accepted, or had been already."""

    outcome: str  # "sent" | "duplicate"


@dataclass(frozen=True)
class Retry:
    """Try again after ``delay`` seconds; ``failures`` sends have failed so far."""

    failures: int
    delay: float
    error: str


@dataclass(frozen=True)
class Park:
    """Give up: the message goes to the parking queue for a human to look at."""

    failures: int
    reason: str


Decision = Done | Retry | Park


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # sends tried in all, the first included
    initial_delay: float  # seconds after the first failure
    factor: float  # each further delay is this times the last
    max_delay: float  # cap (also the retry queue's TTL, which caps per-message expirations)

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed send (1-based)."""
        delay = self.initial_delay
        for _ in range(max(failures, 1) - 1):
            delay *= self.factor
            if delay >= self.max_delay:
                return self.max_delay
        return min(delay, self.max_delay)

    def after_failure(self, failures: int, error: str) -> Retry | Park:
        """What to do once ``failures`` sends of one message have failed, the last with ``error``."""
        if failures >= self.max_attempts:
            return Park(failures, f"gave up after {failures} failed attempts; last error: {error}")
        return Retry(failures, self.delay(failures), error)


def failures_so_far(headers: Mapping[str, object] | None) -> int:
    """The failed sends recorded on a message; 0 for a first delivery or an unreadable header."""
    value = (headers or {}).get(ATTEMPTS_HEADER)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, int | str):
        try:
            return max(int(value), 0)
        except ValueError:
            return 0
    return 0
