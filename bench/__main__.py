"""``python -m bench`` (``make bench``): every benchmark, then one report of the day.

Writes bench/results/<date>.json (all numbers), <date>.md (tables) and <date>.png (charts), and
prints one line per target: measured, target, met or not. A run of some sections (``--only``)
merges into that day's report, replacing just those sections. ``--smoke`` runs each benchmark
tiny (seconds, for CI) and writes to the devstack's state folder unless ``--out`` says otherwise.
Missing a target never fails the run; a benchmark that breaks does (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench import audio, conversion, e2e, report, segments, wrapped
from bench.report import Json, Section
from devstack.config import Config

RESULTS = Path(__file__).resolve().parent / "results"
Runner = Callable[[bool, Console], Section | Json]


def _gateway(smoke: bool, console: Console) -> Section | Json:
    if not wrapped.gateway_available():
        return report.skipped("bench/gateway/ is not written yet: no storage-path numbers.")
    return wrapped.gateway_section(smoke, console)


# in this order: e2e last, since N=100 leaves the machine loaded for minutes after it
SECTIONS: dict[str, Runner] = {
    "conversion": lambda smoke, console: conversion.section(smoke, console),
    "audio": lambda smoke, console: audio.section(smoke, console),
    "segments": lambda smoke, console: segments.section(smoke, console),
    "gateway": _gateway,
    "auth": lambda smoke, console: wrapped.auth_section(smoke, console),
    "e2e": lambda smoke, console: e2e.section(smoke, console),
}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console(highlight=False)
    out: Path = args.out or (Config.from_env().state / "bench-smoke" if args.smoke else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    json_path = out / f"{date}.json"
    record = _start_record(json_path, date, args.smoke, args.fresh)
    failed = []
    for name in args.only or list(SECTIONS):
        console.print(f"[bold]{name}[/] (load average {_load(report.load_average())})")
        section, ok = _run(name, SECTIONS[name], args.smoke, console)
        record["sections"][name] = section
        failed += [] if ok else [name]
        _write(record, json_path)  # after every section: a later crash keeps what was measured
    paths = _write(record, json_path)
    print()
    for line in report.summary_lines(record):
        print(line)
    console.print("written: " + ", ".join(str(p) for p in paths))
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/] (see 'error' in the JSON)")
    return 1 if failed else 0


def _run(name: str, runner: Runner, smoke: bool, console: Console) -> tuple[Json, bool]:
    before, started, measured_at = report.load_average(), time.monotonic(), report.now()
    ok = True
    try:
        result = runner(smoke, console)
        data = result.as_json() if isinstance(result, Section) else result
    except Exception as exc:  # one broken benchmark must not lose the others' numbers
        console.print(f"[red]{name} failed[/]: {type(exc).__name__}: {exc}")
        data = {**report.skipped(f"failed: {type(exc).__name__}: {exc}"), "error": traceback.format_exc()}
        ok = False
    timing = {
        "measured_at": measured_at,
        "seconds": round(time.monotonic() - started, 1),
        "load_average": {"before": before, "after": report.load_average()},
    }
    return {**timing, **data}, ok


def _start_record(path: Path, date: str, smoke: bool, fresh: bool) -> Json:
    record: Json = {}
    if path.exists() and not fresh:
        record = json.loads(path.read_text())
        if record.get("smoke") != smoke:
            record = {}
    record.update(date=date, smoke=smoke, machine=report.machine())
    record.setdefault("sections", {})
    return record


def _write(record: Json, json_path: Path) -> list[Path]:
    order = [*SECTIONS, *(n for n in record["sections"] if n not in SECTIONS)]
    record["sections"] = {n: record["sections"][n] for n in order if n in record["sections"]}
    record["targets"] = [{"section": s, **t} for s, t in report.all_targets(record)]
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    md = json_path.with_suffix(".md")
    md.write_text(report.markdown(record))
    png = report.chart(record, json_path.with_suffix(".png"))
    return [json_path, md, *([png] if png else [])]


def _load(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="every benchmark, tiny: checks they run")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SECTIONS),
        metavar="NAME",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    parser.add_argument("--out", type=Path, help="folder for the report (default bench/results/)")
    parser.add_argument("--fresh", action="store_true", help="start the day's report anew instead of merging")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
