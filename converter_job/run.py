"""One conversion, start to finish: fetch, probe, convert, verify, store. Temp files never outlive it."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pymongo.database import Database

from common import storage
from common.logs import kv
from common.resources import mp3_id
from converter_job import parts, plan, probe, transfer
from converter_job.convert import convert, copy_refusal
from converter_job.parts import Part
from converter_job.progress import Reporter, ThrottledReporter
from converter_job.settings import Settings

log = logging.getLogger("converter")


@dataclass(frozen=True)
class Result:
    mp3_id: str
    size: int
    audio_seconds: float
    format: str = "mp3"
    copied: bool = False  # the source's AAC went into the M4A without re-encoding
    input_loudness: float | None = None  # LUFS, measured when normalising
    note: str | None = None  # why an M4A was re-encoded although its source is AAC
    segments: int = 1  # the parts a long video's audio was encoded in at once (parts.py)

    def termination_message(self) -> dict[str, object]:
        message: dict[str, object] = {
            "mp3Id": self.mp3_id,
            "size": self.size,
            "audioSeconds": round(self.audio_seconds, 3),
            "format": self.format,
            "copied": self.copied,
        }
        if self.input_loudness is not None:
            message["inputLoudness"] = round(self.input_loudness, 1)
        if self.note:
            message["note"] = self.note
        if self.segments > 1:
            message["segments"] = self.segments
        return message


def run(settings: Settings, reporter: Reporter | None) -> Result | Part:
    db = storage.database(
        settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=settings.mongo_timeout_ms
    )
    try:
        with tempfile.TemporaryDirectory(prefix=f"{settings.job_name}-", dir=settings.work_dir) as tmp:
            return _convert_in(Path(tmp), settings, db, reporter)
    finally:
        db.client.close()


def _convert_in(tmp: Path, settings: Settings, db: Database, reporter: Reporter | None) -> Result | Part:
    spec, name, engine = settings.spec, settings.job_name, settings.effective_engine
    started = time.monotonic()
    src, dst = tmp / "input.mp4", tmp / f"output.{spec.output.format}"
    size = transfer.download_video(storage.videos(db), spec.source, src)
    seconds = round(time.monotonic() - started, 2)
    log.info(kv(job=name, event="source.downloaded", bytes=size, seconds=seconds))

    info = probe.probe(settings.ffprobe, src, settings.probe_timeout)
    probe.require_audio(info)
    span = probe.window(info, spec.output.trim)
    log.info(kv(job=name, event="source.probed", audio_seconds=info.audio_seconds, engine=engine))

    if settings.segments > 1:  # a part of a long video, run by one pod of an Indexed Job
        if parts.joinable(settings, info):
            return _convert_part(tmp, settings, db, reporter, src, info, span, started)
        if settings.segment_index > 0:  # part 0 converts it all in one pass
            log.info(kv(job=name, event="part.skipped", part=settings.segment_index, reason="not joinable"))
            return Part(settings.segment_index, settings.segments, skipped=True)
    planned = plan.plan(settings.ffmpeg, src, tmp, spec, info, span, name) if engine == "ffmpeg" else None
    extras = planned.extras if planned else None
    span = planned.span if planned else span
    on_progress = ThrottledReporter(reporter, span.expected, settings.progress_interval)
    convert(engine, settings.ffmpeg, src, dst, spec.output, span, on_progress, info.sample_rate, extras)
    if planned is not None:
        plan.finish(dst, spec, info, planned)
    note = (
        copy_refusal(spec.output, span, info)
        if spec.output.format == "m4a" and not _copied(planned)
        else None
    )
    measured = planned.input_loudness if planned else None
    return _store(dst, settings, db, span, started, _copied(planned), note, measured)


def _convert_part(
    tmp: Path,
    settings: Settings,
    db: Database,
    reporter: Reporter | None,
    src: Path,
    info: probe.MediaInfo,
    span: probe.Window,
    started: float,
) -> Result | Part:
    """This pod's part; and, if it stored the last one, the joined MP3, stored as any other."""
    # part 0 tells the job's progress: the parts are equal and run at once
    reporting = reporter if settings.segment_index == 0 else None
    expected = span.expected / settings.segments if span.expected is not None else None
    on_progress = ThrottledReporter(reporting, expected, settings.progress_interval)
    done = parts.encode_part(tmp, settings, db, src, info, span, on_progress)
    if isinstance(done, Part):
        return done
    parts.finish_joined(done.path, tmp, settings, info, span, src)
    result = _store(done.path, settings, db, span, started, segments=done.count)
    parts.forget_parts(settings, db)
    return result


def _copied(planned: plan.Plan | None) -> bool:
    return bool(planned and planned.extras.copy)


def _store(
    dst: Path,
    settings: Settings,
    db: Database,
    span: probe.Window,
    started: float,
    copied: bool = False,
    note: str | None = None,
    measured: float | None = None,
    segments: int = 1,
) -> Result:
    """Check the made file against the window it was made from, and store it under the job's id."""
    spec, name = settings.spec, settings.job_name
    made = probe.read_output(dst, spec.output.format)
    seconds = probe.check_output(made, span.expected, settings.duration_tolerance)
    file_id = mp3_id(settings.job_uid)
    metadata = {"owner": spec.owner.user_id, "job": name, "filename": spec.mp3_filename}
    stored = transfer.store_mp3(storage.mp3s(db), file_id, dst, spec.mp3_filename, metadata)
    elapsed = round(time.monotonic() - started, 2)
    log.info(
        kv(
            job=name,
            event="mp3.stored",
            mp3_id=file_id,
            bytes=stored,
            audio=seconds,
            seconds=elapsed,
            copied=copied,
        )
    )
    return Result(str(file_id), stored, seconds, spec.output.format, copied, measured, note, segments)
