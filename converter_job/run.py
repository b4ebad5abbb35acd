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
from converter_job import probe, transfer
from converter_job.convert import convert
from converter_job.progress import Reporter, ThrottledReporter
from converter_job.settings import Settings

log = logging.getLogger("converter")


@dataclass(frozen=True)
class Result:
    mp3_id: str
    size: int
    audio_seconds: float

    def termination_message(self) -> dict[str, object]:
        return {"mp3Id": self.mp3_id, "size": self.size, "audioSeconds": round(self.audio_seconds, 3)}


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
    src, dst = tmp / "input.mp4", tmp / "output.mp3"
    size = transfer.download_video(storage.videos(db), spec.source, src)
    seconds = round(time.monotonic() - started, 2)
    log.info(kv(job=name, event="source.downloaded", bytes=size, seconds=seconds))

    info = probe.probe(settings.ffprobe, src)
    probe.require_audio(info)
    span = probe.window(info, spec.output.trim)
    log.info(kv(job=name, event="source.probed", audio_seconds=info.audio_seconds, engine=engine))

    on_progress = ThrottledReporter(reporter, span.expected, settings.progress_interval)
    convert(engine, settings.ffmpeg, src, dst, spec.output, span, on_progress, info.sample_rate)
    made = probe.probe(settings.ffprobe, dst)
    seconds = probe.check_output(made, span.expected, settings.duration_tolerance)

    file_id = mp3_id(settings.job_uid)
    metadata = {"owner": spec.owner.user_id, "job": name, "filename": spec.mp3_filename}
    stored = transfer.store_mp3(storage.mp3s(db), file_id, dst, spec.mp3_filename, metadata)
    elapsed = round(time.monotonic() - started, 2)
    log.info(kv(job=name, event="mp3.stored", mp3_id=file_id, bytes=stored, audio=seconds, seconds=elapsed))
    return Result(str(file_id), stored, seconds)
