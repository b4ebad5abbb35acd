"""common/mp4.py: an MP4's duration from its movie header, wherever the header sits."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest

from common.mp4 import movie_seconds


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _mvhd(version: int, timescale: int, duration: int) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    return _box(b"mvhd", bytes([version, 0, 0, 0]) + times + bytes(80))


def _seconds(data: bytes) -> float | None:
    return movie_seconds(io.BytesIO(data), len(data))


@pytest.mark.parametrize("faststart", [True, False], ids=["moov-first", "moov-last"])
def test_the_duration_of_a_video_ffmpeg_made_is_read_wherever_its_header_is(
    tmp_path: Path, faststart: bool
) -> None:
    video = tmp_path / "v.mp4"
    argv = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=7.5"]
    argv += ["-f", "lavfi", "-i", "color=size=64x64:duration=7.5", "-shortest", "-c:a", "aac"]
    argv += [*(["-movflags", "+faststart"] if faststart else []), str(video)]
    subprocess.run(argv, check=True)
    with video.open("rb") as stream:
        seconds = movie_seconds(stream, video.stat().st_size)
    assert seconds == pytest.approx(7.5, abs=0.1)


def test_a_version_1_header_and_a_64_bit_box_size_are_read() -> None:
    moov = _box(b"moov", _mvhd(1, 1000, 3_600_500))
    large = struct.pack(">I4sQ", 1, b"mdat", 16 + 4) + b"data"  # a 64-bit size, as big files have
    assert _seconds(_box(b"ftyp", b"isom") + large + moov) == pytest.approx(3600.5)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an mp4 at all, just some bytes",
        _box(b"ftyp", b"isom") + _box(b"mdat", b"x" * 100),  # no movie header
        _box(b"moov", _mvhd(0, 0, 100)),  # no timescale
        _box(b"moov", _mvhd(0, 1000, 0xFFFFFFFF)),  # "unknown" duration
        struct.pack(">I4s", 4000, b"moov") + b"truncated",  # a box longer than the file
    ],
    ids=["empty", "text", "no-moov", "no-timescale", "unknown", "truncated"],
)
def test_anything_else_has_no_duration(data: bytes) -> None:
    assert _seconds(data) is None
