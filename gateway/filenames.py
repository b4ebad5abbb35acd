"""File names users send us, made safe to store and to echo back in headers. Pure."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import quote, unquote

MAX_NAME = 255
DEFAULT_VIDEO_NAME = "video.mp4"


# the HTML standard (and curl since 7.81) percent-encode exactly these three in a multipart filename;
# any other "%xx" in a name is the user's own text and stays as it is
_HTML_ESCAPES = re.compile(r"%(22|0D|0A)", re.IGNORECASE)
_HTML_DECODED = {"22": '"', "0D": "\r", "0A": "\n"}
# Content-Disposition lines of the parts' headers (searched in a bounded head of the body)
_DISPOSITION = re.compile(rb"^content-disposition:[^\r\n]*", re.IGNORECASE | re.MULTILINE)
_NAME_PARAM = re.compile(r';\s*name\s*=\s*"?([^";]*)"?', re.IGNORECASE)
_FILENAME_STAR = re.compile(r";\s*filename\*\s*=\s*([^;\s]+)", re.IGNORECASE)


def multipart_filename(parsed: str | None, head: bytes = b"", field: str = "file") -> str | None:
    """The name a browser or curl meant for the part ``field``: its RFC 5987 ``filename*`` when
    sent (found in ``head``, the body's bytes up to that part's headers), else ``parsed`` (the
    multipart parser's ``filename``) with the HTML standard's ``%22``/``%0D``/``%0A`` decoded."""
    extended = _extended_filename(head, field)
    if extended:
        return extended
    if parsed is None:
        return None
    return _HTML_ESCAPES.sub(lambda m: _HTML_DECODED[m.group(1).upper()], parsed)


def _extended_filename(head: bytes, field: str) -> str | None:
    for line in reversed(_DISPOSITION.findall(head)):
        text = line.decode("utf-8", "replace")
        name = _NAME_PARAM.search(text)
        if name is None or name.group(1) != field:
            continue
        extended = _FILENAME_STAR.search(text)
        if extended is None:
            return None
        charset, _, encoded = extended.group(1).partition("'")
        _, _, encoded = encoded.partition("'")  # the language tag, unused
        try:
            return unquote(encoded, encoding=charset or "utf-8", errors="strict") or None
        except (LookupError, UnicodeDecodeError):
            return None  # a charset we do not know or bytes that are not in it: use ``filename``
    return None


def clean_upload_name(raw: str | None) -> str:
    """The base name of an uploaded file without directories, control characters or surrounding
    blanks, at most 255 characters (the ConversionJob schema's limit)."""
    if not raw:
        return DEFAULT_VIDEO_NAME
    name = PureWindowsPath(PurePosixPath(raw).name).name  # "C:\\x\\a.mp4" and "../a.mp4" -> "a.mp4"
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C")
    name = name.strip().strip(".") or DEFAULT_VIDEO_NAME
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= 16:
            name = stem[: MAX_NAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME]
    return name


def mp3_name(video_name: str) -> str:
    """``holiday.mp4`` -> ``holiday.mp3``."""
    stem = video_name.rsplit(".", 1)[0] if "." in video_name.lstrip(".") else video_name
    return f"{stem or 'audio'}.mp3"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition header per RFC 6266: an ASCII fallback any client understands, plus
    the exact name as RFC 5987 UTF-8 for the clients that read ``filename*``."""
    ascii_name = (
        "".join(
            c if 0x20 <= ord(c) < 0x7F and c not in '"\\;' else "_"
            for c in unicodedata.normalize("NFKD", filename)
            if not unicodedata.combining(c)
        ).strip()
        or "audio.mp3"
    )
    header = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header
