"""Progress: ffmpeg's ``-progress`` output parsed, made a percentage, reported at most every so often."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Protocol

# what an engine calls as it goes: seconds of audio converted so far (both engines take one;
# it lives here, not in convert.py, so that moviepy_engine.py need not import convert.py)
OnProgress = Callable[[float], None]


class Reporter(Protocol):
    def report(self, percent: int) -> None: ...


class ProgressParser:
    """ffmpeg writes blocks of ``key=value`` lines, each ending with ``progress=continue|end``."""

    def __init__(self) -> None:
        self._seconds: float | None = None

    def feed(self, line: str) -> float | None:
        """Returns the seconds of output written so far at the end of each block, else None."""
        key, _, value = line.strip().partition("=")
        if key in ("out_time_us", "out_time_ms"):  # both are microseconds (a historical ffmpeg quirk)
            with contextlib.suppress(ValueError):  # "N/A" before the first frame
                self._seconds = max(0, int(value)) / 1_000_000
        elif key == "progress":
            return self._seconds if self._seconds is not None else 0.0
        return None


def percent(done_seconds: float, total_seconds: float | None) -> int:
    """0-99 while converting: 100 means stored, which only the finished conversion reports."""
    if not total_seconds or total_seconds <= 0:
        return 0
    return max(0, min(99, int(100 * done_seconds / total_seconds)))


class Throttle:
    """Lets a changed value through at most once per ``interval`` seconds."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last_time: float | None = None
        self._last_value: object = None

    def ready(self, value: object) -> bool:
        now = self.clock()
        if value == self._last_value:
            return False
        if self._last_time is not None and now - self._last_time < self.interval:
            return False
        self._last_time, self._last_value = now, value
        return True


class ThrottledReporter:
    """Turns seconds converted into throttled percentage reports."""

    def __init__(self, reporter: Reporter | None, total_seconds: float | None, interval: float) -> None:
        self.reporter = reporter
        self.total = total_seconds
        self.throttle = Throttle(interval)

    def __call__(self, done_seconds: float) -> None:
        value = percent(done_seconds, self.total)
        if self.reporter is not None and self.throttle.ready(value):
            self.reporter.report(value)
