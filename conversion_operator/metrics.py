"""The operator's Prometheus metrics (``prometheus_client``), served on its metrics port.

- ``mp4mp3_operator_conversionjobs{phase}``: ConversionJobs this operator knows, by phase;
- ``mp4mp3_operator_queue_length``: ConversionJobs waiting for admission (phase Queued);
- ``mp4mp3_operator_queue_wait_seconds``: from a ConversionJob's creation to its Job's creation;
- ``mp4mp3_operator_admission_decisions_total{decision}``: admitted (a Job made), refused (failed
  before a Job, e.g. its video is gone), and whatever the admission queue adds;
- ``mp4mp3_operator_conversion_seconds{phase}``: a finished conversion's wall time (start to end);
- ``mp4mp3_operator_attempts{phase}``: pods a finished conversion took;
- ``mp4mp3_operator_outcomes_published_total{phase}`` and
  ``mp4mp3_operator_outcome_publish_failures_total``: outcome events sent, and tries the broker
  did not confirm (the resync timer tries again).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from common import metrics
from common.phases import PHASES
from conversion_operator.times import parse_time

log = logging.getLogger("operator")
QUEUED = "Queued"  # the admission queue's phase
Key = tuple[str, str]

CONVERSIONJOBS = Gauge("mp4mp3_operator_conversionjobs", "ConversionJobs known, by phase", ["phase"])
QUEUE_LENGTH = Gauge("mp4mp3_operator_queue_length", "ConversionJobs waiting for admission")
QUEUE_WAIT = Histogram(
    "mp4mp3_operator_queue_wait_seconds",
    "From a ConversionJob's creation to its Job's creation",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
ADMISSIONS = Counter("mp4mp3_operator_admission_decisions", "Admission decisions", ["decision"])
CONVERSION_SECONDS = Histogram(
    "mp4mp3_operator_conversion_seconds",
    "Wall time of finished conversions, first start to end",
    ["phase"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
ATTEMPTS = Histogram(
    "mp4mp3_operator_attempts", "Pods a finished conversion took", ["phase"], buckets=(1, 2, 3, 4, 6)
)
PUBLISHED = Counter("mp4mp3_operator_outcomes_published", "Outcome events the broker confirmed", ["phase"])
PUBLISH_FAILURES = Counter(
    "mp4mp3_operator_outcome_publish_failures", "Outcome events the broker did not confirm (retried later)"
)


class Phases:
    """Each known ConversionJob's phase, mirrored into the two gauges (thread-safe: handlers and the
    metrics server's thread)."""

    def __init__(self) -> None:
        self._phases: dict[Key, str] = {}
        self._lock = threading.Lock()
        self._publish()

    def seen(self, key: Key, phase: str | None) -> None:
        with self._lock:
            self._phases[key] = phase or PHASES[0]
            self._publish()

    def forget(self, key: Key) -> None:
        with self._lock:
            self._phases.pop(key, None)
            self._publish()

    def _publish(self) -> None:
        counts = dict.fromkeys((*PHASES, QUEUED), 0)
        for phase in self._phases.values():
            counts[phase] = counts.get(phase, 0) + 1
        for phase, count in counts.items():
            CONVERSIONJOBS.labels(phase=phase).set(count)
        QUEUE_LENGTH.set(counts[QUEUED])


PHASES_SEEN = Phases()


def job_created(cr: Mapping[str, Any], now: dt.datetime) -> None:
    ADMISSIONS.labels(decision="admitted").inc()
    created = cr["metadata"].get("creationTimestamp")
    if created:
        QUEUE_WAIT.observe(max((now - parse_time(created)).total_seconds(), 0.0))


def outcome_published(st: Mapping[str, Any]) -> None:
    phase = str(st.get("phase"))
    PUBLISHED.labels(phase=phase).inc()
    if st.get("attempts"):
        ATTEMPTS.labels(phase=phase).observe(float(st["attempts"]))
    if st.get("startedAt") and st.get("finishedAt"):
        seconds = (parse_time(st["finishedAt"]) - parse_time(st["startedAt"])).total_seconds()
        CONVERSION_SECONDS.labels(phase=phase).observe(max(seconds, 0.0))


def serve(port: int, host: str) -> None:
    """Serve ``/metrics`` on ``port`` (0: not at all); see ``common.metrics``."""
    metrics.serve(port, host, log)
