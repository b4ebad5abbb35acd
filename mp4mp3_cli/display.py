"""What the user sees: progress bars (or plain lines when stderr is not a terminal), the jobs
table, one job's details, and JSON for scripts. Results go to stdout, everything else to stderr."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from mp4mp3_cli.errors import CliError

PHASE_STYLES = {
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
        ("mp3", human_bytes(job["mp3Size"]) if job.get("mp3Size") is not None else ""),
    ]
    if job.get("phase") == "Succeeded":
        rows.append(("download", f"mp4mp3 download {job.get('id', '')}"))
    for key, value in rows:
        if value:
            grid.add_row(key, value)
    return grid


# -- progress of conversions ----------------------------------------------------------------------


class FileProgress(Protocol):
    """How one file's conversion reports itself, stage by stage (called from its worker thread)."""

    def uploading(self, total: int) -> None: ...
    def advance(self, count: int) -> None: ...
    def following(self, job: dict[str, Any]) -> None: ...
    def downloading(self, total: int | None) -> None: ...
    def done(self, note: str) -> None: ...
    def failed(self, note: str) -> None: ...


class Reporter(Protocol):
    def file(self, name: str) -> FileProgress: ...
    def close(self) -> None: ...


class _DetailColumn(ProgressColumn):
    """Bytes and speed while transferring; the job's phase and message while converting."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()
        self._speed = TransferSpeedColumn()

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "bytes" and not task.finished:
            return Text.assemble(self._bytes.render(task), " ", self._speed.render(task))
        return Text(str(task.fields.get("note", "")), overflow="ellipsis", no_wrap=True)


class _ElapsedColumn(ProgressColumn):
    """Time since the file's upload began, frozen when it is done (rich's own restarts per stage)."""

    def render(self, task: Task) -> Text:
        began = task.fields.get("began")
        if began is None:
            return Text("-:--:--", style="progress.elapsed")
        ended = task.fields.get("ended") or time.monotonic()
        return Text(str(dt.timedelta(seconds=int(ended - began))), style="progress.elapsed")


class Bars:
    """One rich progress bar per file, on stderr."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            TextColumn("{task.fields[stage]}", style="bold"),
            BarColumn(bar_width=30),
            TaskProgressColumn(),
            _ElapsedColumn(),
            _DetailColumn(),
            console=console,
            refresh_per_second=8,
        )
        self._progress.start()

    def file(self, name: str) -> FileProgress:
        task = self._progress.add_task(
            f"{short(name):<{NAME_WIDTH}}",
            total=None,
            stage="waiting ",
            note="",
            unit="",
            began=None,
            ended=None,
        )
        return _FileBar(self._progress, task)

    def close(self) -> None:
        self._progress.stop()


class _FileBar:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._p = progress
        self._task = task

    def uploading(self, total: int) -> None:
        self._bytes_stage("upload  ", total)
        self._p.update(self._task, began=time.monotonic())

    def advance(self, count: int) -> None:
        self._p.advance(self._task, count)

    def following(self, job: dict[str, Any]) -> None:
        phase = str(job.get("phase", ""))
        note = f"{phase}: {job.get('message') or ''}".rstrip(": ")
        self._p.update(
            self._task,
            total=100,
            completed=int(job.get("progress") or 0),
            stage="convert ",
            unit="",
            note=note,
        )

    def downloading(self, total: int | None) -> None:
        self._bytes_stage("download", total)

    def _bytes_stage(self, stage: str, total: int | None) -> None:
        # reset() without fields keeps them (with fields it would replace them all, `began` too)
        self._p.reset(self._task, total=total, completed=0)
        self._p.update(self._task, stage=stage, unit="bytes", note="")

    def done(self, note: str) -> None:
        total = self._p.tasks[self._task].total or 1
        self._p.update(
            self._task,
            total=total,
            completed=total,
            stage="[green]done    ",
            unit="",
            note=note,
            ended=time.monotonic(),
        )
        self._p.stop_task(self._task)

    def failed(self, note: str) -> None:
        self._p.update(self._task, stage="[red]failed  ", unit="", note=note, ended=time.monotonic())
        self._p.stop_task(self._task)


class Lines:
    """Plain lines on stderr at each stage, for logs and terminals that are not one."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def file(self, name: str) -> FileProgress:
        return _FileLines(self._console, name)

    def close(self) -> None:
        pass


class _FileLines:
    def __init__(self, console: Console, name: str) -> None:
        self._console = console
        self._name = name
        self._last: tuple[str, int] | None = None

    def _say(self, text: str) -> None:
        self._console.print(f"{self._name}: {text}", markup=False, highlight=False, soft_wrap=True)

    def uploading(self, total: int) -> None:
        self._say(f"uploading {human_bytes(total)}")

    def advance(self, count: int) -> None:
        pass

    def following(self, job: dict[str, Any]) -> None:
        phase, progress = str(job.get("phase", "")), int(job.get("progress") or 0)
        if self._last is None or self._last[0] != phase or progress - self._last[1] >= 25:
            self._last = (phase, progress)
            self._say(f"job {job.get('id', '')} {phase} {progress}%")

    def downloading(self, total: int | None) -> None:
        self._say(f"downloading the MP3 ({human_bytes(total)})")

    def done(self, note: str) -> None:
        self._say(f"done: {note}")

    def failed(self, note: str) -> None:
        pass  # the command prints the error itself


class Silent:
    """--json: nothing but the final document."""

    def file(self, name: str) -> FileProgress:
        return _Quiet()

    def close(self) -> None:
        pass


class _Quiet:
    def uploading(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def following(self, job: dict[str, Any]) -> None:
        pass

    def downloading(self, total: int | None) -> None:
        pass

    def done(self, note: str) -> None:
        pass

    def failed(self, note: str) -> None:
        pass


def reporter(as_json: bool) -> Reporter:
    if as_json:
        return Silent()
    console = stderr()
    return Bars(console) if console.is_terminal else Lines(console)
