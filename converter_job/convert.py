"""The conversion itself: ffmpeg (the default, directly) or MoviePy, both with progress callbacks.

ffmpeg makes every format in one run: the audio (encoded, or the source's AAC copied into an M4A),
the tags, the chapters (mapped from the video) and the cover (a second input, attached picture).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from common.logs import kv
from converter_job.analysis import span_options
from converter_job.errors import ConversionFailure
from converter_job.probe import MediaInfo, Window
from converter_job.progress import OnProgress, ProgressParser
from converter_job.spec import Engine, Output
from converter_job.tagging import metadata_options

log = logging.getLogger("converter.convert")

# per format: encoder, muxer; the rates each encoder takes (None: any the source has)
ENCODERS = {"mp3": "libmp3lame", "m4a": "aac", "opus": "libopus", "flac": "flac"}
MUXERS = {"mp3": "mp3", "m4a": "ipod", "opus": "opus", "flac": "flac"}
OPUS_RATE = 48000  # the only rate of the SAMPLE_RATES that Opus takes
LOUDNORM_RATES = (22050, 32000, 44100, 48000)  # loudnorm works at 192 kHz: the output is set back


@dataclass(frozen=True)
class Extras:
    """What the encode adds to the plain audio: decided by run.py from the spec and the analysis."""

    tags: dict[str, str] = field(default_factory=dict)
    cover: Path | None = None  # a JPEG to attach (not for Opus: tagging.py adds it)
    loudnorm: str | None = None  # the second-pass loudnorm filter
    copy: bool = False  # the source's AAC into an M4A, as it is


def copy_refusal(output: Output, span: Window, info: MediaInfo) -> str | None:
    """Why the source's audio cannot be copied into the M4A as it is; None when it can."""
    if output.format != "m4a":
        return "only an M4A can hold the source's AAC as it is"
    if info.audio_codec != "aac":
        return f"the video's audio is {info.audio_codec or 'unknown'}, not AAC"
    if output.loudness is not None:
        return "loudness normalisation changes the samples"
    if output.trim_silence or span.start > 0 or span.end is not None:
        return "trimming cuts inside the audio"
    if output.bitrate is not None or output.channels is not None or output.sample_rate is not None:
        return "a bitrate, channel count or sample rate was asked for"
    return None


def output_rate(output: Output, extras: Extras, source_rate: int | None) -> int | None:
    """The ``-ar`` to set: the asked rate, Opus's own, or the source's back after loudnorm."""
    if output.format == "opus":
        return OPUS_RATE
    if output.sample_rate is not None:
        return output.sample_rate
    if extras.loudnorm is not None and extras.loudnorm.startswith("loudnorm"):
        return source_rate if source_rate in LOUDNORM_RATES else 48000
    return None


def convert(
    engine: Engine,
    ffmpeg: str,
    src: Path,
    dst: Path,
    output: Output,
    span: Window,
    on_progress: OnProgress,
    source_rate: int | None = None,
    extras: Extras | None = None,
) -> None:
    if engine == "moviepy":
        from converter_job.moviepy_engine import convert_with_moviepy  # heavy import, only when asked for

        convert_with_moviepy(src, dst, output, span, on_progress, source_rate)
    else:
        argv = ffmpeg_argv(ffmpeg, src, dst, output, span, extras or Extras(), source_rate)
        run_ffmpeg(argv, dst.with_suffix(".log"), on_progress)


def ffmpeg_argv(
    ffmpeg: str,
    src: Path,
    dst: Path,
    output: Output,
    span: Window,
    extras: Extras | None = None,
    source_rate: int | None = None,
) -> list[str]:
    extras = extras or Extras()
    fmt = output.format
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    argv += span_options(span)  # input options: positions in the source
    argv += ["-i", str(src)]
    attach = extras.cover is not None and fmt != "opus"
    if attach:
        argv += ["-i", str(extras.cover), "-map", "0:a:0", "-map", "1:v:0", "-sn", "-dn"]
        argv += [
            "-c:v",
            "copy",
            "-disposition:v:0",
            "attached_pic",
            "-metadata:s:v:0",
            "comment=Cover (front)",
        ]
    else:
        argv += ["-map", "0:a:0", "-vn", "-sn", "-dn"]
    if extras.tags:
        argv += metadata_options(extras.tags)
    if not output.chapters:
        argv += ["-map_chapters", "-1"]
    if span.end is not None and span.expected is not None:
        argv += ["-t", f"{span.expected:g}"]  # the same end as -to; ffmpeg clips chapters by this one
    argv += audio_options(output, extras, source_rate)
    if fmt == "mp3":
        argv += ["-id3v2_version", "4", "-write_id3v1", "0"]
    elif fmt == "m4a":
        argv += ["-movflags", "+faststart"]  # the index first: players start before the end arrives
    return [*argv, "-progress", "pipe:1", "-f", MUXERS[fmt], str(dst)]


def audio_options(output: Output, extras: Extras, source_rate: int | None) -> list[str]:
    if extras.copy:
        return ["-c:a", "copy"]
    options = ["-c:a", ENCODERS[output.format]]
    if extras.loudnorm is not None:
        options += ["-af", extras.loudnorm]
    if output.quality is not None:
        options += ["-q:a", str(output.quality)]  # LAME VBR (the API allows it for MP3 only)
    elif output.effective_bitrate is not None:
        options += ["-b:a", str(output.effective_bitrate)]
    if output.channels is not None:
        options += ["-ac", str(output.channels)]
    rate = output_rate(output, extras, source_rate)
    if rate is not None:
        options += ["-ar", str(rate)]
    return options


def run_ffmpeg(argv: list[str], log_path: Path, on_progress: OnProgress) -> None:
    """Run ffmpeg, feeding its progress to ``on_progress``; ffmpeg dies with us on any exit path."""
    parser = ProgressParser()
    with log_path.open("w+") as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                seconds = parser.feed(line)
                if seconds is not None:
                    on_progress(seconds)
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code != 0:
            errors.seek(0)
            last = (errors.read().strip().splitlines() or ["no output"])[-1][:300]
            log.error(kv(event="ffmpeg.failed", code=code, error=last))
            raise ConversionFailure("EncoderFailed", f"The audio encoder failed (exit {code}): {last}")
