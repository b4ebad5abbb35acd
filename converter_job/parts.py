"""A long video's MP3 made by several pods at once (the operator's Indexed Job): each pod encodes its
part of the audio (segments.py), stores it in GridFS under the Job's uid, and the pod that stores
the last part joins them into one gapless MP3, tags it, and stores it as a one-pod converter would.

Every pod downloads the whole video (ffmpeg seeks in it); a part only ever holds its own audio.
When the audio cannot be joined (a sample rate MPEG-1 has not, an option segments.py does not
take), part 0 converts the whole of it in one pass and the others do nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from pymongo.database import Database

from common.logs import kv
from converter_job import plan, segments, tagging, transfer
from converter_job.convert import run_ffmpeg
from converter_job.probe import MediaInfo, Window
from converter_job.progress import OnProgress
from converter_job.settings import Settings

log = logging.getLogger("converter.parts")


@dataclass(frozen=True)
class Part:
    """What a pod that did not join says: its part, stored (or nothing to do: ``skipped``)."""

    index: int
    count: int
    size: int = 0
    skipped: bool = False

    def termination_message(self) -> dict[str, object]:
        return {"part": self.index, "of": self.count, "size": self.size, "skipped": self.skipped}


@dataclass(frozen=True)
class JoinedMp3:
    """What the joiner holds: the joined MP3, not tagged yet, of ``count`` parts."""

    path: Path
    count: int


def joinable(settings: Settings, info: MediaInfo) -> bool:
    output = settings.spec.output
    if settings.effective_engine != "ffmpeg" or output.loudness is not None or output.trim_silence:
        return False
    return segments.supported(output, output.sample_rate or info.sample_rate)


def encode_part(
    tmp: Path,
    settings: Settings,
    db: Database,
    src: Path,
    info: MediaInfo,
    span: Window,
    on_progress: OnProgress,
) -> Part | JoinedMp3:
    """Encode and store this pod's part; the joined MP3 when this pod is the joiner."""
    spec, name, index = settings.spec, settings.job_name, settings.segment_index
    rate = spec.output.sample_rate or info.sample_rate
    assert rate is not None  # joinable() checked it
    parts = segments.plan(span, rate, settings.segments, source_rate=info.sample_rate)
    count = len(parts)  # fewer than the pods when the audio is too short for each to have a part
    if index >= count:
        log.info(kv(job=name, event="part.skipped", part=index, reason="audio too short for it"))
        return Part(index, settings.segments, skipped=True)
    started = time.monotonic()
    mine = tmp / f"part-{index}.mp3"
    argv = segments.encode_argv(settings.ffmpeg, src, mine, spec.output, span, parts[index], info.sample_rate)
    run_ffmpeg(argv, mine.with_suffix(".log"), on_progress)
    size = transfer.store_part(db, settings.run_uid, name, index, mine)
    log.info(kv(job=name, event="part.stored", part=index, of=count, bytes=size, seconds=_since(started)))
    if not transfer.claim_join(db, settings.run_uid, name, index, count):
        return Part(index, count, size)
    started = time.monotonic()
    paths = [
        mine if i == index else transfer.fetch_part(db, settings.run_uid, i, tmp / f"part-{i}.mp3")
        for i in range(count)
    ]
    joined = tmp / "output.mp3"
    made = segments.join(list(zip(parts, paths, strict=True)), joined)
    log.info(kv(job=name, event="parts.joined", of=count, frames=made.frames, seconds=_since(started)))
    return JoinedMp3(joined, count)


def finish_joined(
    joined: Path, tmp: Path, settings: Settings, info: MediaInfo, span: Window, src: Path
) -> None:
    """Tag the joined MP3 as ffmpeg tags a one-pass one: the tags, the cover, the chapters."""
    spec = settings.spec
    planned = plan.plan(settings.ffmpeg, src, tmp, spec, info, span, settings.job_name)
    chapters = tagging.chapters_in(info, span) if spec.output.chapters else []
    tagging.id3(joined, planned.extras.tags, planned.extras.cover, chapters)


def forget_parts(settings: Settings, db: Database) -> None:
    transfer.delete_parts(db, settings.run_uid, settings.segments)  # any fewer parts are among them


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
