"""What a file holds, and what that means for the conversion (pure but for ``probe`` and
``read_output``): the input as ffprobe sees it, the converted file as mutagen reads it.

mutagen, not a second ffprobe, for the output: it is in the converter already (tagging.py), reads
the four formats' headers in-process (an ffprobe process costs ~0.07 CPU-s and, on a loaded
machine, up to a second of wall; measured) and agrees with ffprobe on their durations within
0.03 s (M4A: mutagen does not subtract the encoder's priming)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter_job.errors import BadInput, ConversionFailure
from converter_job.spec import Trim

# per output format, the codec it must hold (ffprobe's name for it)
OUTPUT_CODECS = {"mp3": "mp3", "m4a": "aac", "opus": "opus", "flac": "flac"}


@dataclass(frozen=True)
class Chapter:
    start: float
    end: float
    title: str


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration: float | None  # the container's
    audio_streams: int
    audio_seconds: float | None  # the first audio stream's (the container's when the stream has none)
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    video_streams: int = 0  # pictures to take a cover from (attached pictures not counted)
    tags: dict[str, str] = field(default_factory=dict)  # the container's, lower-case keys
    chapters: tuple[Chapter, ...] = ()


@dataclass(frozen=True)
class Window:
    """The part of the audio to convert, in seconds; ``expected`` is the MP3's duration when known."""

    start: float
    end: float | None
    expected: float | None


def probe(ffprobe: str, path: Path, timeout: float) -> MediaInfo:
    """Probe ``path`` within ``timeout`` s; a file ffprobe cannot read is bad input, not a reason to
    retry; one it takes too long over fails this attempt (a loaded node may do better next time)."""
    argv = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    argv += ["-show_chapters", str(path)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConversionFailure("ProbeTimedOut", "Reading the video's headers took too long.") from exc
    if done.returncode != 0:
        raise BadInput("NotAVideo", "The file is not a video that can be read; upload an MP4 file.")
    return media_info(json.loads(done.stdout or "{}"))


def media_info(report: dict[str, Any]) -> MediaInfo:
    fmt = report.get("format") or {}
    audio = [s for s in report.get("streams") or [] if s.get("codec_type") == "audio"]
    duration = _seconds(fmt.get("duration"))
    first = audio[0] if audio else {}
    videos = [
        s
        for s in report.get("streams") or []
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    return MediaInfo(
        format_name=str(fmt.get("format_name", "")),
        duration=duration,
        audio_streams=len(audio),
        audio_seconds=(_seconds(first.get("duration")) or duration) if audio else None,
        audio_codec=first.get("codec_name"),
        sample_rate=int(first["sample_rate"]) if first.get("sample_rate") else None,
        channels=int(first["channels"]) if first.get("channels") else None,
        video_streams=len(videos),
        tags={str(k).lower(): str(v) for k, v in (fmt.get("tags") or {}).items()},
        chapters=tuple(_chapters(report.get("chapters") or [])),
    )


def require_audio(info: MediaInfo) -> None:
    if info.audio_streams == 0:
        raise BadInput("NoAudioStream", "The video has no audio track to convert.")


def window(info: MediaInfo, trim: Trim | None) -> Window:
    """The trim window clipped to the audio; a window that starts after the audio ends is bad input."""
    start = trim.start if trim else 0.0
    end = trim.end if trim else None
    total = info.audio_seconds
    if total is None:
        return Window(start, end, (end - start) if end is not None else None)
    if start >= total:
        raise BadInput(
            "TrimOutOfRange",
            f"The trim starts at {start:g} s but the audio lasts only {total:.1f} s.",
        )
    stop = min(end, total) if end is not None else total
    return Window(start, end, stop - start)


def read_output(path: Path, fmt: str) -> MediaInfo:
    """The converted file as ``check_output`` takes it: no audio stream when it holds no audio of
    ``fmt``'s codec (a header-only MP3, an M4A without an AAC track, a file that is not ``fmt``)."""
    from mutagen import MutagenError

    try:
        info = _open_output(path, fmt).info
    except (MutagenError, OSError):
        return MediaInfo(fmt, None, 0, None)
    if (fmt == "mp3" and info.layer != 3) or (fmt == "m4a" and not info.codec.startswith("mp4a.40.")):
        return MediaInfo(fmt, None, 0, None)  # MPEG layer 1 or 2; ALAC or another codec in the MP4
    # the length and codec only: what the check needs (mutagen says 2 channels for a mono M4A)
    return MediaInfo(fmt, info.length, 1, info.length, OUTPUT_CODECS[fmt])


def check_output(info: MediaInfo, expected: float | None, tolerance: float) -> float:
    """The MP3's duration, once it is shown to be the audio it was made from."""
    actual = info.audio_seconds
    if info.audio_streams == 0 or not actual or actual <= 0:
        raise ConversionFailure("EmptyOutput", "The conversion produced no audio.")
    if expected is not None and abs(actual - expected) > tolerance:
        raise ConversionFailure(
            "DurationMismatch",
            f"The MP3 lasts {actual:.2f} s but the audio it was made from lasts {expected:.2f} s.",
        )
    return actual


def _chapters(raw: list[dict[str, Any]]) -> list[Chapter]:
    chapters = []
    for number, item in enumerate(raw, 1):
        start, end = _seconds(item.get("start_time")), _seconds(item.get("end_time"))
        if start is not None and end is not None and end > start:
            title = str((item.get("tags") or {}).get("title") or f"Chapter {number}")
            chapters.append(Chapter(start, end, title))
    return chapters


def _seconds(value: object) -> float | None:
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _open_output(path: Path, fmt: str) -> Any:
    """mutagen's reader of ``fmt``, imported alone: an MP3's check loads no MP4 or Ogg code."""
    if fmt == "mp3":
        from mutagen.mp3 import MP3

        return MP3(path)
    if fmt == "m4a":
        from mutagen.mp4 import MP4

        return MP4(path)
    if fmt == "opus":
        from mutagen.oggopus import OggOpus

        return OggOpus(path)
    from mutagen.flac import FLAC

    return FLAC(path)
