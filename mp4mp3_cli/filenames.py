"""The MP3's local file name from the server's Content-Disposition header. Pure."""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import unquote

_EXTENDED = re.compile(r"filename\*\s*=\s*([\w!#$%&+^`{}~.-]+)'[^']*'([^;\s]+)", re.IGNORECASE)
_PLAIN = re.compile(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.IGNORECASE)


def attachment_name(header: str | None, fallback: str) -> str:
    """The file name a Content-Disposition header suggests (RFC 6266: ``filename*`` wins), made
    safe: no folders, no leading dot, no control characters; ``fallback`` if nothing usable."""
    name = None
    if header:
        extended = _EXTENDED.search(header)
        if extended:
            name = unquote(
                extended.group(2), encoding="utf-8" if extended.group(1).lower() == "utf-8" else "latin-1"
            )
        else:
            plain = _PLAIN.search(header)
            if plain:
                name = plain.group(1).replace('\\"', '"') if plain.group(1) is not None else plain.group(2)
    return safe_name(name) or fallback


def safe_name(name: str | None) -> str | None:
    if not name:
        return None
    base = PureWindowsPath(PurePosixPath(name).name).name
    base = "".join(c for c in base if c.isprintable()).strip().lstrip(".")
    return base or None
