"""A batch's numbers from its jobs' timelines: the spans between moments (p50/p95), overhead over
plain ffmpeg, throughput, and the steps inside the longer ones."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

from bench import stats
from bench.e2e.timeline import POINTS, STEPS, SYSTEM_STEPS, Batch, Job


def analyse(batch: Batch, jobs: list[Job], floor: dict[str, float], loads: dict[str, Any]) -> dict[str, Any]:
    complete = [j for j in jobs if all(p in j.times for p in POINTS)]

    def spans(a: str, b: str, among: list[Job] = complete) -> list[float]:
        return [j.times[b] - j.times[a] for j in among if a in j.times and b in j.times]

    totals = spans("upload_done", "email_sent")
    logged = [j for j in complete if "stored" in j.converter and "downloaded" in j.converter]
    pod_runs = [j.times["conversion_done"] - j.times["pod_started"] for j in logged]
    # each repeat of the batch: its first upload started -> its last email
    makespans = [
        max(j.times["email_sent"] for j in done) - min(j.upload_start for j in jobs if j.round == r)
        for r in range(batch.repeats)
        if (done := [j for j in complete if j.round == r])
    ]
    makespan = stats.median(makespans)
    jobs_per_minute = batch.concurrency * 60 / makespan if makespan > 0 else float("nan")
    floor_per_minute = (os.cpu_count() or 1) * 60 / floor["cpu"]
    return {
        "concurrency": batch.concurrency,
        "repeats": batch.repeats,
        "jobs": len(jobs),
        "accepted": sum(1 for j in jobs if j.name),
        "succeeded": sum(1 for j in jobs if j.phase == "Succeeded"),
        "emailed": sum(1 for j in jobs if "email_sent" in j.times),
        "complete_timelines": len(complete),
        "steps": {f"{a} -> {b}": _dist(spans(a, b)) for a, b in STEPS},
        "upload": _dist([j.times["upload_done"] - j.upload_start for j in jobs if "upload_done" in j.times]),
        "total": _dist(totals),
        "overhead": _dist([t - floor["wall"] for t in totals]),
        "system_overhead": _dist([sum(j.times[b] - j.times[a] for a, b in SYSTEM_STEPS) for j in complete]),
        "inside": {  # what the longer steps are made of
            "pod created -> bound": _dist(spans("pod_created", "pod_bound")),
            "converter start-up (imports, settings)": _dist(
                [run - j.converter["stored"] for run, j in zip(pod_runs, logged, strict=True)]
            ),
            "converter GridFS download": _dist([j.converter["downloaded"] for j in logged]),
            "converter probe+convert+check+store": _dist(
                [j.converter["stored"] - j.converter["downloaded"] for j in logged]
            ),
            "MP3 stored -> pod exited": _dist(spans("conversion_done", "pod_exited")),
            "pod exited -> Job Complete": _dist(spans("pod_exited", "job_complete")),
            "Job Complete -> CR Succeeded": _dist(spans("job_complete", "cr_succeeded")),
            # the operator settles from the pod's end, not the Job's (negative: before Job Complete)
            "pod exited -> CR Succeeded": _dist(spans("pod_exited", "cr_succeeded")),
        },
        "makespan_seconds": stats.rounded(makespan),
        "jobs_per_minute": stats.rounded(jobs_per_minute, 1),
        "floor_jobs_per_minute": stats.rounded(floor_per_minute, 1),
        "load_average": loads,
        "timelines": [_timeline(j) for j in jobs],
    }


def _dist(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": stats.rounded(stats.percentile(values, 50)),
        "p95": stats.rounded(stats.percentile(values, 95)),
        "n": len(values),
    }


def _timeline(job: Job) -> dict[str, Any]:
    base = job.upload_start
    return {
        "job": job.name,
        "status": job.status_code,
        "phase": job.phase,
        "error": job.error,
        "upload_start": round(base, 3),
        "accepted": round(job.accepted - base, 3) if job.accepted else None,
        **{k: round(v - base, 3) for k, v in sorted(job.times.items(), key=lambda kv: kv[1])},
        "converter_log": job.converter,
        "api": job.api,
    }


def print_batch(console: Console, label: str, r: dict[str, Any]) -> None:
    console.print(
        f"  e2e {label}: {r['emailed']}/{r['jobs']} emailed; total p50 {r['total']['p50']} s, overhead p50 "
        f"{r['overhead']['p50']} s (p95 {r['overhead']['p95']}), {r['jobs_per_minute']} jobs/min "
        f"(floor {r['floor_jobs_per_minute']})"
    )
