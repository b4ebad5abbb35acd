"""The shape every benchmark section reports in, and the files made from it: JSON, Markdown, PNG.

A section is plain data (``Section.as_json``); the Markdown table and the chart are rendered from
the JSON alone, so sections measured on different runs of the same day merge into one report.
"""

from __future__ import annotations

import math
import operator
import os
import platform
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Json = dict[str, Any]
Cell = str | int | float | None

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Target:
    """One performance target: what was measured against what the design asks for."""

    name: str
    measured: float | None
    comparison: str  # one of COMPARE
    limit: float
    unit: str  # "x" for ratios, "MB", "s", "jobs/min", ...
    detail: str = ""  # what was compared with what, in a few words

    @property
    def met(self) -> bool | None:
        if self.measured is None or math.isnan(self.measured):
            return None
        return COMPARE[self.comparison](self.measured, self.limit)

    def as_json(self) -> Json:
        return {**asdict(self), "met": self.met}


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class Chart:
    """A bar chart: one bar per series in each group (stacked: one bar per group)."""

    title: str
    ylabel: str
    groups: list[str]
    series: dict[str, list[float | None]]
    limit: float | None = None  # drawn as a dashed line: the target
    limit_label: str = "target"
    stacked: bool = False
    log: bool = False


@dataclass
class Section:
    name: str
    parameters: Json
    results: Json
    targets: list[Target] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> Json:
        return {
            "parameters": self.parameters,
            "notes": self.notes,
            "results": self.results,
            "targets": [t.as_json() for t in self.targets],
            "tables": [asdict(t) for t in self.tables],
            "charts": [asdict(c) for c in self.charts],
        }


def skipped(reason: str) -> Json:
    """The JSON of a section that could not run (e.g. its script is not written yet)."""
    return {"skipped": reason, "targets": [], "tables": [], "charts": [], "notes": [reason]}


def machine() -> Json:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ffmpeg": _first_line(["ffmpeg", "-version"]),
        "lame": _first_line(["lame", "--version"]),
    }


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- summary ----------------------------------------------------------------------------------


def all_targets(record: Json) -> list[tuple[str, Json]]:
    return [(name, t) for name, section in record["sections"].items() for t in section.get("targets", [])]


def summary_lines(record: Json) -> list[str]:
    lines = []
    for section, t in all_targets(record):
        verdict = {True: "MET", False: "NOT MET", None: "NO DATA"}[t["met"]]
        lines.append(
            f"{verdict:<8} {section:<10} {t['name']:<52} {_value(t['measured'], t['unit']):>12}"
            f"  target {t['comparison']} {_value(t['limit'], t['unit'])}"
        )
    return lines


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.3f}x"  # 1.052x must not read as 1.05x
    return f"{value:.3g} {unit}"


# -- markdown -----------------------------------------------------------------------------------


def markdown(record: Json) -> str:
    m = record["machine"]
    out = [
        f"# mp4mp3 benchmarks, {record['date']}",
        "",
        f"{m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, {m['ffmpeg']}, {m['lame']}."
        + (" **Smoke run: tiny inputs, the numbers mean nothing.**" if record.get("smoke") else ""),
        "The machine is shared with other work: each section gives the 1/5/15-minute load average "
        "before and after it ran. How to read all this: bench/README.md.",
        "",
        "## Targets",
        "",
        "| section | target | measured | wanted | met |",
        "|---|---|---:|---:|:---:|",
    ]
    for section, t in all_targets(record):
        met = {True: "yes", False: "**no**", None: "no data"}[t["met"]]
        wanted = f"{t['comparison']} {_value(t['limit'], t['unit'])}"
        out.append(f"| {section} | {t['name']} | {_value(t['measured'], t['unit'])} | {wanted} | {met} |")
    for name, section in record["sections"].items():
        out += ["", f"## {name}", ""]
        if "measured_at" in section:
            load = section.get("load_average", {})
            out.append(
                f"Measured {section['measured_at']} in {section.get('seconds', '?')} s; load average "
                f"before {_load(load.get('before'))}, after {_load(load.get('after'))}."
            )
            out.append("")
        out += [f"- {note}" for note in section.get("notes", [])]
        for table in section.get("tables", []):
            out += ["", f"### {table['title']}", "", *md_table(table["columns"], table["rows"])]
    return "\n".join(out) + "\n"


def _load(values: Sequence[float] | None) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "?"


def md_table(columns: Sequence[str], rows: Sequence[Sequence[Cell]]) -> list[str]:
    def cell(value: Cell) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    aligns = ["---" if i == 0 else "---:" for i in range(len(columns))]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join(aligns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


# -- chart --------------------------------------------------------------------------------------


def chart(record: Json, path: Path) -> Path | None:
    """One PNG with every section's charts in a grid; None when no section has a chart."""
    charts = [(name, c) for name, s in record["sections"].items() for c in s.get("charts", [])]
    if not charts:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    cols = 2 if len(charts) > 1 else 1
    rows = math.ceil(len(charts) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 4.4 * rows), squeeze=False)
    for ax, (section, spec) in zip(axes.flat, charts, strict=False):
        _bars(ax, f"{section}: {spec['title']}", spec)
    for ax in list(axes.flat)[len(charts) :]:
        ax.set_visible(False)
    title = f"mp4mp3 benchmarks {record['date']}" + (
        " (smoke: meaningless numbers)" if record.get("smoke") else ""
    )
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.98))  # room for the title
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bars(ax: Any, title: str, spec: Mapping[str, Any]) -> None:
    groups: list[str] = spec["groups"]
    series: dict[str, list[float | None]] = spec["series"]
    xs = list(range(len(groups)))
    if spec.get("stacked"):
        bottom = [0.0] * len(groups)
        for label, values in series.items():
            heights = [v or 0.0 for v in values]
            ax.bar(xs, heights, 0.6, bottom=bottom, label=label)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    else:
        width = 0.8 / max(1, len(series))
        for i, (label, values) in enumerate(series.items()):
            offset = (i - (len(series) - 1) / 2) * width
            ax.bar([x + offset for x in xs], [v or 0.0 for v in values], width, label=label)
    if spec.get("limit") is not None:
        label = spec.get("limit_label", "target")
        ax.axhline(spec["limit"], color="black", linestyle="--", linewidth=1, label=label)
    if spec.get("log"):
        ax.set_yscale("log")
    ax.set_xticks(xs, groups, fontsize=8)
    ax.set_ylabel(spec["ylabel"])
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncols=2 if len(series) > 4 else 1)


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        return f"{argv[0]} not found"
    first = (out.strip().splitlines() or ["?"])[0]
    return first.split(" Copyright")[0].split(" (http")[0][:80]  # the name and version only
