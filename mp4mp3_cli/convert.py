"""``convert``: each video uploaded, followed and downloaded by its own worker thread, one
progress bar each. Planning (which video goes to which MP3) happens before any upload, so a
typo in the fifth name does not leave four jobs behind."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.phases import TERMINAL
from mp4mp3_cli.api import Api, Stopped
from mp4mp3_cli.display import human_bytes
from mp4mp3_cli.errors import CliError, ExitCode
from mp4mp3_cli.progress import FileProgress, Reporter

INTERRUPTED = CliError(ExitCode.INTERRUPTED, "Interrupted.")


@dataclass(frozen=True)
class Planned:
    video: Path
    output: Path


@dataclass
class Outcome:
    video: Path
    output: Path | None
    job: dict[str, Any] | None = None
    mp3_bytes: int | None = None
    error: CliError | None = None

    @property
    def job_id(self) -> str | None:
        return str(self.job["id"]) if self.job and "id" in self.job else None

    def as_json(self) -> dict[str, Any]:
        return {
            "video": str(self.video),
            "ok": self.error is None,
            "job": self.job,
            "mp3": str(self.output) if self.output and self.mp3_bytes is not None else None,
            "mp3Bytes": self.mp3_bytes,
            "error": self.error.as_json() if self.error else None,
        }


def plan(
    videos: Sequence[Path], output: Path | None, force: bool, wait: bool = True, extension: str = "mp3"
) -> list[Planned]:
    """Where each video's MP3 goes; raises CliError before anything is sent. Without ``wait``
    nothing is downloaded, so only the videos are checked."""
    for video in videos:
        check_readable(video)
    if not wait:
        if output is not None:
            raise CliError(
                ExitCode.USAGE, "-o has no use with --no-wait; give it to `mp4mp3 download` later."
            )
        return [Planned(video, mp3_path(video, None, extension)) for video in videos]
    if output is not None and len(videos) > 1 and not output.is_dir():
        raise CliError(
            ExitCode.USAGE, f"With several videos, -o must be an existing folder ({output} is not)."
        )
    planned = [Planned(video, mp3_path(video, output, extension)) for video in videos]
    seen: dict[Path, Path] = {}
    for item in planned:
        key = item.output.resolve()
        if key in seen:
            raise CliError(
                ExitCode.USAGE, f"{seen[key]} and {item.video} would both be written to {item.output}."
            )
        seen[key] = item.video
        if key == item.video.resolve():
            raise CliError(ExitCode.USAGE, f"The MP3 of {item.video} would overwrite the video itself.")
        check_writable(item.output, force)
    return planned


def mp3_path(video: Path, output: Path | None, extension: str = "mp3") -> Path:
    """video.mp4 -> video.mp3 (or .m4a, ...) beside it, or in folder ``output``, or ``output`` itself."""
    name = video.with_suffix(f".{extension}").name
    if output is None:
        return video.with_name(name)
    return output / name if output.is_dir() else output


def check_readable(video: Path) -> None:
    if not video.exists():
        raise CliError(ExitCode.LOCAL_FILE, f"{video}: no such file.")
    if not video.is_file():
        raise CliError(ExitCode.LOCAL_FILE, f"{video} is not a file.")
    if not os.access(video, os.R_OK):
        raise CliError(ExitCode.LOCAL_FILE, f"{video} cannot be read (permission denied).")


def check_writable(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise CliError(ExitCode.LOCAL_FILE, f"{path} already exists; pass --force to overwrite it.")
    folder = path.parent
    if not folder.is_dir():
        raise CliError(ExitCode.LOCAL_FILE, f"Cannot write {path}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise CliError(ExitCode.LOCAL_FILE, f"Cannot write {path}: the folder is not writable.")


@dataclass(frozen=True)
class Follow:
    """How to wait for a job: poll interval, and how long an unreachable server is tolerated."""

    poll_seconds: float
    patience_seconds: float


def follow(
    api: Api, job_id: str, on_update: Callable[[dict[str, Any]], None], stop: threading.Event, how: Follow
) -> dict[str, Any]:
    """Follow the job until it ends; its last state. Live (GET /jobs/events) where the gateway
    offers it, polling otherwise or once the stream breaks: the server may be away for a while."""
    try:
        job = follow_live(api, job_id, on_update, stop)
    except CliError as exc:
        if exc.code != ExitCode.UNREACHABLE:
            raise
        job = None  # the stream broke: polling rides out the outage
    return job if job is not None else poll(api, job_id, on_update, stop, how)


def follow_live(
    api: Api, job_id: str, on_update: Callable[[dict[str, Any]], None], stop: threading.Event
) -> dict[str, Any] | None:
    """The job's last state from the gateway's event stream; None if there is no stream (or it
    ended before the job did)."""
    with api.events() as events:
        if events is None:
            return None
        for event, data in events:
            if stop.is_set():
                raise Stopped
            if event == "deleted" and data.get("id") == job_id:
                raise CliError(ExitCode.JOB_FAILED, f"Job {job_id} was removed before it finished.")
            if event == "job" and data.get("id") == job_id:
                on_update(data)
                if data.get("phase") in TERMINAL:
                    # the stream carries the live fields; the result is the whole job (its options)
                    return api.job(job_id)
    return None


def poll(
    api: Api, job_id: str, on_update: Callable[[dict[str, Any]], None], stop: threading.Event, how: Follow
) -> dict[str, Any]:
    """Poll the job until it ends; its last state. Survives the server being away for a while."""
    last_answer = time.monotonic()
    while True:
        try:
            job = api.job(job_id)
        except CliError as exc:
            if exc.code == ExitCode.NOT_FOUND:
                raise CliError(ExitCode.JOB_FAILED, f"Job {job_id} was removed before it finished.") from None
            if exc.code != ExitCode.UNREACHABLE or time.monotonic() - last_answer > how.patience_seconds:
                raise
        else:
            last_answer = time.monotonic()
            on_update(job)
            if job.get("phase") in TERMINAL:
                return job
        if stop.wait(how.poll_seconds):
            raise Stopped


def failure(job: dict[str, Any]) -> CliError:
    """The error for a job that ended without an MP3."""
    if job.get("phase") == "Cancelled":
        return CliError(ExitCode.JOB_FAILED, f"Job {job.get('id')} was cancelled.")
    why = job.get("message") or job.get("reason") or "no reason given"
    reason = f" ({job['reason']})" if job.get("reason") and job.get("message") else ""
    return CliError(ExitCode.JOB_FAILED, f"The conversion failed: {why}{reason}")


def convert_one(
    api_factory: Callable[[], Api],
    item: Planned,
    fields: dict[str, str],
    bar: FileProgress,
    stop: threading.Event,
    wait: bool,
    how: Follow,
    outcome: Outcome,
) -> Outcome:
    """Upload, follow and download one video, filling ``outcome`` as it goes (the main thread
    reads it if the user stops waiting)."""
    try:
        if stop.is_set():  # Ctrl-C came before this file's turn
            raise Stopped
        with api_factory() as api:
            bar.uploading(item.video.stat().st_size)
            outcome.job = api.upload(item.video, fields, bar.advance, stop)
            if not wait:
                bar.done(f"job {outcome.job_id}")
                return outcome
            job_id = str(outcome.job_id)
            outcome.job = follow(api, job_id, bar.following, stop, how)
            if outcome.job.get("phase") != "Succeeded":
                raise failure(outcome.job)
            _, mp3_bytes = api.download(job_id, lambda _resp: item.output, bar.downloading, bar.advance, stop)
            outcome.mp3_bytes = mp3_bytes
        bar.done(f"{item.output} ({human_bytes(outcome.mp3_bytes)})")
    except Stopped:
        outcome.error = INTERRUPTED
        bar.failed("interrupted")
    except CliError as exc:
        outcome.error = exc
        bar.failed(exc.message)
    except OSError as exc:
        outcome.error = CliError(ExitCode.LOCAL_FILE, f"{item.video}: {exc.strerror or exc}.")
        bar.failed(outcome.error.message)
    return outcome


def convert_all(
    api_factory: Callable[[], Api],
    planned: Sequence[Planned],
    fields: dict[str, str],
    reporter: Reporter,
    wait: bool,
    how: Follow,
    parallel: int,
) -> list[Outcome]:
    """Convert every planned video, ``parallel`` at once. Ctrl-C stops them all (the jobs already
    accepted go on on the server) and raises :class:`Interrupted` once the workers have stopped,
    or at once on a second Ctrl-C."""
    stop = threading.Event()
    outcomes = [Outcome(item.video, item.output if wait else None) for item in planned]
    bars = [reporter.file(item.video.name) for item in planned]
    pool = ThreadPoolExecutor(max_workers=max(1, min(parallel, len(planned))), thread_name_prefix="convert")
    try:
        futures = [
            pool.submit(convert_one, api_factory, item, fields, bar, stop, wait, how, outcome)
            for item, bar, outcome in zip(planned, bars, outcomes, strict=True)
        ]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            stop.set()
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for the workers
            pass
        for future, outcome in zip(futures, outcomes, strict=True):
            if not future.done() and outcome.error is None:
                outcome.error = INTERRUPTED
        raise Interrupted(outcomes)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        reporter.close()


class Interrupted(Exception):
    """Ctrl-C during ``convert``: what each file had reached."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("interrupted")
        self.outcomes = outcomes


def exit_code(outcomes: Sequence[Outcome]) -> ExitCode:
    """0 if every file converted, else the code of the first that did not (command-line order)."""
    return next((o.error.code for o in outcomes if o.error is not None), ExitCode.OK)
