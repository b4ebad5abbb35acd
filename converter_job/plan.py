"""What the encode adds to plain audio, decided before it runs (tags, cover, loudness, silence, the
AAC copy) and finished after it (what only mutagen can write). Shared by run.py and the bench."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from common.logs import kv
from converter_job import analysis, cover, tagging
from converter_job.convert import Extras, copy_refusal
from converter_job.probe import MediaInfo, Window
from converter_job.spec import Spec

log = logging.getLogger("converter.plan")


@dataclass(frozen=True)
class Plan:
    extras: Extras
    span: Window  # the window to encode, silence trimmed when asked
    input_loudness: float | None  # LUFS, measured when normalising


def plan(ffmpeg: str, src: Path, work: Path, spec: Spec, info: MediaInfo, span: Window, job: str) -> Plan:
    """Run the first pass and take the cover when asked; decide whether the AAC is copied."""
    output, loudnorm, measured = spec.output, None, None
    if output.loudness is not None or output.trim_silence:
        found = analysis.analyse(ffmpeg, src, span, output.loudness, output.trim_silence)
        span = found.window
        if found.loudness is not None and output.loudness is not None:
            loudnorm, measured = found.loudness.second_pass(output.loudness), found.loudness.input_i
        log.info(kv(job=job, event="audio.analysed", loudness=measured, start=span.start, end=span.end))
    picture = None
    if output.wants_cover:
        at = cover.cover_second(info, output.cover_second)
        if at is not None:
            picture = cover.extract_cover(
                ffmpeg, src, work / "cover.jpg", at, auto=output.cover_second is None
            )
    copy = copy_refusal(output, span, info) is None
    return Plan(Extras(tagging.metadata(spec, info), picture, loudnorm, copy), span, measured)


def finish(dst: Path, spec: Spec, info: MediaInfo, made: Plan) -> None:
    """Write into the encoded file what ffmpeg could not (tagging.py says what)."""
    fmt, extras = spec.output.format, made.extras
    chapters = tagging.chapters_in(info, made.span) if spec.output.chapters else []
    if tagging.needs_mutagen(fmt, extras.tags, extras.cover, chapters):
        tagging.finish(dst, fmt, extras.tags, extras.cover, chapters)
