"""Is an upload an ISO base media file (MP4, M4V, MOV, 3GP), judged by its first bytes? Pure.

An ISO-BMFF file starts with a box: a 4-byte big-endian size, then the type ``ftyp`` and a
four-character major brand. This is a sniff, not a parse: it turns away the obviously wrong
upload (a text file named .mp4) at once; the converter's probe remains the real judge.
"""

from __future__ import annotations

import struct

HEAD_BYTES = 12  # size (4) + "ftyp" (4) + major brand (4)
FTYP = b"ftyp"


def iso_bmff_problem(head: bytes) -> str | None:
    """None if ``head`` (the file's first bytes, at least HEAD_BYTES unless the file is shorter)
    looks like ISO-BMFF, else a sentence saying why not."""
    if len(head) < HEAD_BYTES:
        return f"The file is only {len(head)} bytes long: too short to be an MP4 video."
    (size,) = struct.unpack(">I", head[:4])
    if head[4:8] != FTYP:
        return "The file is not an MP4 video: it does not start with an ISO-BMFF 'ftyp' box."
    if size not in (0, 1) and size < HEAD_BYTES + 4:  # 0: to end of file, 1: 64-bit size follows
        return "The file is not a valid MP4 video: its 'ftyp' box is truncated."
    if not all(0x20 <= b < 0x7F for b in head[8:12]):
        return "The file is not a valid MP4 video: its 'ftyp' box has no readable brand."
    return None
