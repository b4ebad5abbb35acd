"""The soak's report: bench/results/chaos-<date>.json (everything) and .md (the invariants table,
the faults as injected, the parked messages), and the table printed at the end."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.report import md_table

Json = dict[str, Any]


def write(record: Json, folder: Path, date: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"chaos-{date}.json"
    json_path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    md_path = json_path.with_suffix(".md")
    md_path.write_text(markdown(record))
    return [json_path, md_path]


def markdown(record: Json) -> str:
    run = record["run"]
    lines = [
        f"# Chaos soak {record['date']}",
        "",
        f"N={run['n']}, faults={run['faults']}, seed={run['seed']} (replay: `make chaos N={run['n']} "
        f"FAULTS={run['faults']} SEED={run['seed']}`), {run['seconds']:.0f} s, "
        f"load average before/after {run['load_before']} / {run['load_after']}.",
        "",
        f"**{'All invariants held' if record['passed'] else 'An invariant failed'}.**",
        "",
        "## Invariants",
        "",
        *md_table(
            ["#", "invariant", "checked", "failed", "seen"],
            [
                [c["number"], c["name"], c["checked"], c["failed"], _counts(c["counts"])]
                for c in record["invariants"]
            ],
        ),
        "",
    ]
    failures = [f"- ({c['number']}) {f}" for c in record["invariants"] for f in c["failures"]]
    if failures:
        lines += ["## Failures", "", *failures, ""]
    lines += ["## Faults as injected", ""]
    lines += md_table(
        ["planned at s", "began at s", "kind", "outage s", "target", "lasted s", "note"],
        [
            [
                f["at"],
                round(f["started"] - run["t0"], 1) if "t0" in run else None,
                f["kind"],
                f["outage"],
                f["target"],
                round(f["ended"] - f["started"], 1),
                f["skipped"] or f["error"],
            ]
            for f in record["injected"]
        ],
    )
    lines += ["", "## Parked messages", ""]
    parked = [m for q in record["queues"] for m in q["parked"]]
    lines += [f"- `{m['routing_key']}`: {m['reason']}" for m in parked] or ["none"]
    lines += ["", "## Uploads", "", _counts(record["uploads"]), ""]
    lines += ["## Outcomes by input", ""]
    lines += md_table(["input", "upload", "phase", "reason", "jobs"], _outcome_rows(record["submissions"]))
    lines += [""]
    return "\n".join(lines)


def _outcome_rows(submissions: list[Json]) -> list[list[str | int | None]]:
    seen = Counter((s["kind"], s["status"], s["phase"], s["reason"]) for s in submissions)
    return [[*key, count] for key, count in sorted(seen.items(), key=str)]


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())


def print_table(console: Console, record: Json) -> None:
    table = Table(
        title=f"chaos: N={record['run']['n']} faults={record['run']['faults']} seed={record['run']['seed']}"
    )
    for column in ("#", "invariant", "checked", "failed", "held"):
        table.add_column(column)
    for c in record["invariants"]:
        held = "[green]yes[/]" if c["held"] else "[red]NO[/]"
        table.add_row(str(c["number"]), c["name"], str(c["checked"]), str(c["failed"]), held)
    console.print(table)
    for c in record["invariants"]:
        for failure in c["failures"][:20]:
            console.print(f"  [red]({c['number']})[/] {failure}")
