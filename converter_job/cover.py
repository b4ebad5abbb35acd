"""Cover art: one frame of the video as a square JPEG, embedded by the encode (or by tagging.py).

``auto`` takes ffmpeg's ``thumbnail`` pick (the frame nearest the average of a stretch: not a black
frame, not a flash) from a stretch starting a tenth into the video, past the usual fade-in; a
second takes the frame at that second. The centre square is kept: players show covers square.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from common.logs import kv
from converter_job.errors import BadInput, ConversionFailure
from converter_job.probe import MediaInfo

log = logging.getLogger("converter.cover")

COVER_PIXELS = 500  # width and height of the cover
AUTO_AT = 0.1  # of the video's duration, where ``auto`` starts looking
AUTO_AT_MOST = 60.0  # seconds: a long video's cover comes from its first minute
AUTO_FRAMES = 50  # frames the thumbnail filter chooses among (2 s at 25 fps)
COVER_TIMEOUT = 120  # seconds; seeking and decoding a few frames


def cover_second(info: MediaInfo, asked: float | None) -> float | None:
    """Where to take the cover; None when there is no picture to take it from (``auto`` on an audio-
    only file). A second outside the video is the input's fault."""
    length = info.duration
    if asked is None:
        if info.video_streams == 0:
            return None
        return min((length or 0.0) * AUTO_AT, AUTO_AT_MOST)
    if info.video_streams == 0:
        raise BadInput("CoverArtUnavailable", "The video has no picture to take the cover art from.")
    if length is not None and asked >= length:
        raise BadInput(
            "CoverArtOutOfRange", f"The cover art is asked at {asked:g} s but the video lasts {length:.1f} s."
        )
    return asked


def cover_argv(ffmpeg: str, src: Path, dst: Path, at: float, auto: bool) -> list[str]:
    square = f"crop='min(iw,ih)':'min(iw,ih)',scale={COVER_PIXELS}:{COVER_PIXELS},setsar=1"
    chain = f"thumbnail={AUTO_FRAMES},{square}" if auto else square
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    argv += ["-ss", f"{at:g}", "-i", str(src), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", chain]
    return [*argv, "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "3", "-f", "image2", str(dst)]


def extract_cover(ffmpeg: str, src: Path, dst: Path, at: float, auto: bool) -> Path:
    argv = cover_argv(ffmpeg, src, dst, at, auto)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COVER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConversionFailure(
            "CoverArtFailed", "Taking the cover art from the video took too long."
        ) from exc
    if done.returncode != 0 or not dst.exists() or dst.stat().st_size == 0:
        last = (done.stderr.strip().splitlines() or ["no frame"])[-1][:300]
        log.error(kv(event="cover.failed", code=done.returncode, error=last))
        raise ConversionFailure("CoverArtFailed", f"Taking the cover art from the video failed: {last}")
    return dst
