"""HTTP Range requests (RFC 9110 section 14) for one representation of known size. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ByteRange:
    start: int  # first byte, inclusive
    end: int  # last byte, inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(ValueError):
    """The request asked only for bytes beyond the end (answer 416 with ``Content-Range: bytes */size``)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"The requested range is outside the file ({size} bytes).")
        self.size = size


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range ``header`` asks for, clipped to ``size``; None means "send it all".

    A malformed header, another unit or several ranges are ignored (RFC 9110 allows answering
    200 with the whole representation); a well-formed range that starts beyond the end raises
    :class:`RangeNotSatisfiable`.
    """
    if header is None:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not _digits(first, last):
        return None
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid per RFC 9110: ignore the header
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end)


def _digits(first: str, last: str) -> bool:
    if not first and not last:
        return False
    return all(not part or (part.isascii() and part.isdigit()) for part in (first, last))


def if_range_allows(if_range: str | None, etag: str) -> bool:
    """Whether a Range may be honoured given ``If-Range`` (only strong ETags compare; dates never do,
    since our ETags are what identify a file's version)."""
    if if_range is None:
        return True
    value = if_range.strip()
    return not value.startswith("W/") and value == etag


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` per RFC 9110 (weak comparison): true means answer 304."""
    if if_none_match is None:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag.removeprefix("W/") for c in candidates)
