"""What the user sees: the consoles, the jobs table, one job's details, errors, and JSON for
scripts. Results go to stdout, everything else to stderr. Progress bars live in progress.py."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mp4mp3_cli.errors import CliError

PHASE_STYLES = {
    "Queued": "blue",
    "Pending": "yellow",
    "Running": "cyan",
    "Succeeded": "green",
    "Failed": "red",
    "Cancelled": "magenta",
    "Unknown": "dim",
}
NAME_WIDTH = 28


WIDTH_WHEN_PIPED = 200  # rich's 80 columns would squeeze tables that go to a file or a pipe


def stdout() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = WIDTH_WHEN_PIPED
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def show_error(error: CliError, as_json: bool) -> None:
    if as_json:
        emit_json({"error": error.as_json()})
    else:
        stderr().print(Text.assemble(("Error: ", "bold red"), error.message))


def human_bytes(size: float | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def local_time(value: str | None) -> str:
    """An API timestamp ('2026-11-24T10:15:00Z') in the user's time zone, to the minute."""
    if not value:
        return ""
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def phase_text(phase: str) -> Text:
    return Text(phase, style=PHASE_STYLES.get(phase, ""))


def short(name: str, width: int = NAME_WIDTH) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


# -- jobs -----------------------------------------------------------------------------------------


def jobs_table(items: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False, header_style="bold", pad_edge=False, box=None)
    for column in ("ID", "FILE", "PHASE", "PROGRESS", "CREATED", "TOOK", "MESSAGE"):
        table.add_column(
            column, overflow="fold" if column == "MESSAGE" else "ellipsis", no_wrap=column != "MESSAGE"
        )
    for job in items:
        table.add_row(
            job.get("id", ""),
            short(str(job.get("filename", ""))),
            phase_text(str(job.get("phase", ""))),
            f"{job.get('progress', 0)}%",
            local_time(job.get("created")),
            job.get("duration") or "",
            escape(job.get("message") or ""),
        )
    return table


def job_details(job: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    options = ", ".join(f"{k}={v}" for k, v in (job.get("options") or {}).items())
    rows: list[tuple[str, str | Text]] = [
        ("id", job.get("id", "")),
        ("file", f"{job.get('filename', '')} ({human_bytes(job.get('size'))})"),
        ("phase", phase_text(str(job.get("phase", "")))),
        ("progress", f"{job.get('progress', 0)}%"),
        ("reason", job.get("reason") or ""),
        ("message", job.get("message") or ""),
        ("options", options),
        ("created", local_time(job.get("created"))),
        ("started", local_time(job.get("startedAt"))),
        ("finished", local_time(job.get("finishedAt"))),
        ("took", job.get("duration") or ""),
        ("attempts", str(job["attempts"]) if job.get("attempts") is not None else ""),
        ("audio", f"{job['audioSeconds']:.1f} s" if job.get("audioSeconds") is not None else ""),
        (
            str(job.get("audioFormat") or "mp3"),
            human_bytes(job["mp3Size"]) if job.get("mp3Size") is not None else "",
        ),
        ("copied", "the video's AAC, without re-encoding" if job.get("audioCopied") else ""),
        (
            "loudness",
            f"{job['inputLoudness']:.1f} LUFS measured" if job.get("inputLoudness") is not None else "",
        ),
    ]
    if job.get("phase") == "Succeeded":
        rows.append(("download", f"mp4mp3 download {job.get('id', '')}"))
    for key, value in rows:
        if value:
            grid.add_row(key, value)
    return grid
