"""HTTP Range parsing (RFC 9110): what a player or a resumed download asks for is what it gets."""

from __future__ import annotations

import pytest

from gateway.ranges import ByteRange, RangeNotSatisfiable, etag_matches, if_range_allows, parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=100-199", ByteRange(100, 199)),
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=990-", ByteRange(990, 999)),
        ("bytes=-10", ByteRange(990, 999)),
        ("bytes=-5000", ByteRange(0, 999)),  # a suffix longer than the file is the whole file
        ("bytes=500-99999", ByteRange(500, 999)),  # clipped to the end
        ("Bytes = 1-2", ByteRange(1, 2)),
    ],
)
def test_satisfiable_ranges(header: str, expected: ByteRange) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes",
        "items=0-5",
        "bytes=5-1",
        "bytes=a-b",
        "bytes=-",
        "bytes=0-1,5-6",
        "bytes=1.5-2",
        "bytes=٣-٤",
    ],
)
def test_malformed_or_multiple_ranges_mean_the_whole_file(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-1005", "bytes=5000-6000", "bytes=-0"])
def test_ranges_beyond_the_end_are_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as err:
        parse_range(header, SIZE)
    assert err.value.size == SIZE


def test_an_empty_file_satisfies_no_range() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-1", 0)


def test_content_range_and_length() -> None:
    part = ByteRange(100, 199)
    assert part.length == 100
    assert part.content_range(SIZE) == "bytes 100-199/1000"


def test_if_range_honours_the_range_only_for_the_same_strong_etag() -> None:
    assert if_range_allows(None, '"a"')
    assert if_range_allows('"a"', '"a"')
    assert not if_range_allows('"b"', '"a"')
    assert not if_range_allows('W/"a"', '"a"')
    assert not if_range_allows("Tue, 24 Nov 2026 10:00:00 GMT", '"a"')


def test_if_none_match() -> None:
    assert etag_matches('"a"', '"a"')
    assert etag_matches('"x", W/"a"', '"a"')
    assert etag_matches("*", '"a"')
    assert not etag_matches('"b"', '"a"')
    assert not etag_matches(None, '"a"')
