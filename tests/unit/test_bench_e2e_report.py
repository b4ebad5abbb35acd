"""The e2e section's targets when a batch collapses (pure): a batch in which no job finished is
reported as a collapse, not a crash of the section (a gateway OOMKilled at N=100 did that)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from bench.e2e.analysis import analyse
from bench.e2e.report import report_section
from bench.e2e.timeline import POINTS, Batch, Job
from bench.inputs import Input

FLOOR = {"wall": 0.4, "cpu": 0.4}
LOADS = {"before": [1.0, 1.0, 1.0], "after": [1.0, 1.0, 1.0]}
MOMENTS = [*POINTS, "pod_created", "pod_bound", "pod_exited", "job_complete"]  # and those inside


@dataclass(frozen=True)
class Sample:
    """What the report reads of its sample video (bench.inputs.Input makes a real one)."""

    label: str
    video: Path


def finished(i: int) -> Job:
    """A job whose every moment was seen, one second apart."""
    times = {moment: float(k) for k, moment in enumerate(MOMENTS)}
    return Job(user=f"u{i}", upload_start=0.0, name=f"cj-{i}", times=times, phase="Succeeded")


def refused(i: int) -> Job:
    return Job(user=f"r{i}", upload_start=0.0, error="RemoteProtocolError: Server disconnected")


def test_a_batch_in_which_no_job_finished_is_a_collapse_that_misses_its_targets(tmp_path: Path) -> None:
    video = tmp_path / "sample.mp4"
    video.write_bytes(bytes(1000))
    sample = cast(Input, Sample("30s-360p", video))
    batches = [
        (Batch(1), [finished(0)]),
        (Batch(2), [finished(1), finished(2)]),
        (Batch(3), [refused(i) for i in range(3)]),
    ]
    results = {
        b.label: {**analyse(b, jobs, FLOOR, LOADS), "cpu_seconds": {"operator": 1.0}} for b, jobs in batches
    }

    targets = {t.name: (t.measured, t.met) for t in report_section(sample, FLOOR, results).targets}

    assert targets["jobs/min N=3 vs N=2"] == (0.0, False)
    assert targets["jobs emailed (N=3)"] == (0.0, False)
    assert targets["overhead p50 (N=1)"][1] is False  # 6 s of moments against a 2 s target
