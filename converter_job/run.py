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
from converter_job import plan, probe, transfer
from converter_job.convert import convert, copy_refusal
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
        return message


def run(settings: Settings, reporter: Reporter | None) -> Result:
    db = storage.database(
        settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=settings.mongo_timeout_ms
    )
    try:
        with tempfile.TemporaryDirectory(prefix=f"{settings.job_name}-", dir=settings.work_dir) as tmp:
            return _convert_in(Path(tmp), settings, db, reporter)
    finally:
        db.client.close()


def _convert_in(tmp: Path, settings: Settings, db: Database, reporter: Reporter | None) -> Result:
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

    planned = plan.plan(settings.ffmpeg, src, tmp, spec, info, span, name) if engine == "ffmpeg" else None
    extras = planned.extras if planned else None
    span = planned.span if planned else span
    on_progress = ThrottledReporter(reporter, span.expected, settings.progress_interval)
    convert(engine, settings.ffmpeg, src, dst, spec.output, span, on_progress, info.sample_rate, extras)
    if planned is not None:
        plan.finish(dst, spec, info, planned)
    made = probe.read_output(dst, spec.output.format)
    seconds = probe.check_output(made, span.expected, settings.duration_tolerance)

    file_id = mp3_id(settings.job_uid)
    metadata = {"owner": spec.owner.user_id, "job": name, "filename": spec.mp3_filename}
    stored = transfer.store_mp3(storage.mp3s(db), file_id, dst, spec.mp3_filename, metadata)
    elapsed = round(time.monotonic() - started, 2)
    copied = bool(extras and extras.copy)
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
    note = copy_refusal(spec.output, span, info) if spec.output.format == "m4a" and not copied else None
    measured = planned.input_loudness if planned else None
    return Result(str(file_id), stored, seconds, spec.output.format, copied, measured, note)
