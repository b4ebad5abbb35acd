"""The MP4 sniff: an ISO-BMFF file starts with an ftyp box; anything else is refused at once."""

from __future__ import annotations

import pytest

from gateway.containers import iso_bmff_problem

FTYP_ISOM = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


@pytest.mark.parametrize(
    "head",
    [
        FTYP_ISOM,
        b"\x00\x00\x00\x20ftypmp42\x00\x00\x00\x00mp42isom",
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00",  # QuickTime .mov
        b"\x00\x00\x00\x1cftypM4V \x00\x00\x00\x01",
        b"\x00\x00\x00\x01ftyp3gp5",  # 64-bit size follows
    ],
)
def test_iso_bmff_files_pass(head: bytes) -> None:
    assert iso_bmff_problem(head) is None


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (b"Just my notes, not a video.\n", "does not start with an ISO-BMFF 'ftyp' box"),
        (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81", "does not start with an ISO-BMFF 'ftyp' box"),  # MKV
        (b"\x00\x00\x00\x08moov\x00\x00\x00\x00", "does not start with an ISO-BMFF 'ftyp' box"),
        (b"\x00\x00\x00\x08ftypisom", "truncated"),
        (b"\x00\x00\x00\x18ftyp\x00\x01\x02\x03", "no readable brand"),
        (b"\x00\x00\x00", "only 3 bytes long"),
        (b"", "only 0 bytes long"),
    ],
)
def test_anything_else_is_refused_with_a_reason(head: bytes, words: str) -> None:
    problem = iso_bmff_problem(head)
    assert problem is not None and words in problem
