"""File names users send us, made safe to store and to echo back in headers. Pure."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import quote

MAX_NAME = 255
DEFAULT_VIDEO_NAME = "video.mp4"


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
