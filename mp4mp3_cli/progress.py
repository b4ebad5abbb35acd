"""Progress of conversions as the user sees it: a bar per file (a terminal on stderr), plain lines
(stderr piped to a file), or nothing (--json); :func:`reporter` picks one."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Protocol

from rich.console import Console
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
from rich.text import Text

from mp4mp3_cli.display import NAME_WIDTH, human_bytes, short, stderr


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
