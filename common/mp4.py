"""An MP4's duration from its movie header (``moov/mvhd``), read with a few small seeks (pure but for
reading the seekable file it is given: a GridFS stream, a local file).

The operator reads it to decide, before any converter runs, whether a video is long enough to be
encoded in segments by several pods. The number comes from the upload, so it is a hint: it only
chooses between two correct ways to convert; the converter measures the audio itself.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

MAX_BOXES = 64  # top-level boxes looked at before giving up (a real MP4 has a handful)


def movie_seconds(stream: BinaryIO, size: int) -> float | None:
    """The movie's duration in seconds, or None when ``stream`` (``size`` bytes) is not an MP4 with
    a readable movie header."""
    moov = _find(stream, 0, size, b"moov")
    if moov is None:
        return None
    mvhd = _find(stream, moov[0], moov[1], b"mvhd")
    if mvhd is None:
        return None
    stream.seek(mvhd[0])
    head = stream.read(32)
    if len(head) < 4:
        return None
    if head[0] == 1 and len(head) >= 32:  # version 1: 64-bit times
        timescale, duration = struct.unpack(">IQ", head[20:32])
    elif head[0] == 0 and len(head) >= 20:
        timescale, duration = struct.unpack(">II", head[12:20])
    else:
        return None
    if timescale == 0 or duration in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        return None  # no duration given (fragmented files say so with all ones)
    return duration / timescale


def _find(stream: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """The (payload start, end) of the first box of ``kind`` among the boxes from ``start`` to ``end``."""
    at = start
    for _ in range(MAX_BOXES):
        if at + 8 > end:
            return None
        stream.seek(at)
        header = stream.read(16)
        if len(header) < 8:
            return None
        length, found = struct.unpack(">I4s", header[:8])
        payload = at + 8
        if length == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return None
            length = struct.unpack(">Q", header[8:16])[0]
            payload = at + 16
        elif length == 0:  # to the end of the file
            length = end - at
        if length < payload - at or at + length > end:
            return None
        if found == kind:
            return payload, at + length
        at += length
    return None
