"""The conversion itself: ffmpeg (the default, directly) or MoviePy, both with progress callbacks."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from common.logs import kv
from converter_job.errors import ConversionFailure
from converter_job.probe import Window
from converter_job.progress import OnProgress, ProgressParser
from converter_job.spec import Engine, Output

log = logging.getLogger("converter.convert")


def convert(
    engine: Engine,
    ffmpeg: str,
    src: Path,
    dst: Path,
    output: Output,
    span: Window,
    on_progress: OnProgress,
    source_rate: int | None = None,
) -> None:
    if engine == "moviepy":
        from converter_job.moviepy_engine import convert_with_moviepy  # heavy import, only when asked for

        convert_with_moviepy(src, dst, output, span, on_progress, source_rate)
    else:
        run_ffmpeg(ffmpeg_argv(ffmpeg, src, dst, output, span), dst.with_suffix(".log"), on_progress)


def ffmpeg_argv(ffmpeg: str, src: Path, dst: Path, output: Output, span: Window) -> list[str]:
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    if span.start > 0:
        argv += ["-ss", f"{span.start:g}"]
    if span.end is not None:
        argv += ["-to", f"{span.end:g}"]  # an input option: a position in the source, like -ss
    argv += ["-i", str(src), "-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", "libmp3lame"]
    if output.quality is not None:
        argv += ["-q:a", str(output.quality)]  # LAME VBR
    else:
        argv += ["-b:a", str(output.effective_bitrate)]
    if output.channels is not None:
        argv += ["-ac", str(output.channels)]
    if output.sample_rate is not None:
        argv += ["-ar", str(output.sample_rate)]
    return [*argv, "-progress", "pipe:1", "-f", "mp3", str(dst)]


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
