"""What an end-to-end run is made of: batches of concurrent jobs, and the moments of each job's
timeline (first seen by a watch, in wall-clock seconds) that the run notes and the analysis spans."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

BITRATE = "192k"

POINTS = [
    "upload_done",
    "cr_created",
    "job_created",
    "pod_started",
    "conversion_done",
    "cr_succeeded",
    "email_sent",
]

STEPS = list(itertools.pairwise(POINTS))

# steps the system itself takes, apart from waiting for a node slot and the converter pod's run
SYSTEM_STEPS = [
    ("upload_done", "cr_created"),
    ("cr_created", "job_created"),
    ("conversion_done", "cr_succeeded"),
    ("cr_succeeded", "email_sent"),
]


@dataclass(frozen=True)
class Batch:
    concurrency: int
    repeats: int = 1  # batches run one after another (N=1 repeated gives a p50 worth the name)

    @property
    def label(self) -> str:
        return f"N={self.concurrency}" + (f" x{self.repeats}" if self.repeats > 1 else "")


FULL = [Batch(1, repeats=5), Batch(20), Batch(100)]

SMOKE = [Batch(1)]


@dataclass
class Job:
    user: str
    upload_start: float
    accepted: float | None = None
    status_code: int | None = None
    name: str | None = None
    error: str | None = None
    times: dict[str, float] = field(default_factory=dict)
    api: dict[str, Any] = field(default_factory=dict)  # the API's own timestamps, for reference
    converter: dict[str, float] = field(default_factory=dict)  # from its log: downloaded, stored
    phase: str | None = None
    round: int = 0  # which repeat of its batch
