"""Exit codes and errors of the command line, and how HTTP answers become them. Pure.

Every failure a user can meet is a :class:`CliError` carrying a sentence and an exit code; the
commands never show a traceback. The codes are an interface for scripts (docs/cli.md lists them).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any


class ExitCode(enum.IntEnum):
    OK = 0
    JOB_FAILED = 1  # the conversion failed, was cancelled or removed: no MP3
    USAGE = 2  # the command line is wrong (click's own code for usage errors)
    NOT_LOGGED_IN = 3  # no token, an expired or rejected one, or wrong email/password
    UNREACHABLE = 4  # the server cannot be reached, timed out, or is unavailable (503)
    LOCAL_FILE = 5  # a local file is missing, unreadable, or cannot be written
    REFUSED = 6  # the server refused the request (400/409/413/415/422/429) and said why
    NOT_FOUND = 7  # no such job (or not yours)
    SERVER_ERROR = 8  # the server failed (500) or answered something unusable
    INTERNAL = 9  # a bug in mp4mp3 itself (please report it)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class CliError(Exception):
    """A failure explained in words; ``code`` is the process's exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_json(self) -> dict[str, Any]:
        return {"code": int(self.code), "kind": self.code.name.lower(), "message": self.message}


LOGIN_HINT = "Run `mp4mp3 login`."


def detail_of(body: bytes) -> str | None:
    """The sentence in an error body: ``{"detail": "..."}`` or FastAPI's validation list
    ``{"detail": [{"loc": [...], "msg": "..."}]}``; None when the body has neither."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    detail = document.get("detail") if isinstance(document, Mapping) else None
    if isinstance(detail, str):
        return detail.strip() or None
    if isinstance(detail, list):
        parts = [_validation_item(item) for item in detail if isinstance(item, Mapping)]
        return "; ".join(p for p in parts if p) or None
    return None


def _validation_item(item: Mapping[str, Any]) -> str:
    loc = [str(p) for p in item.get("loc") or () if p not in ("body", "query", "path")]
    msg = str(item.get("msg", "")).removeprefix("Value error, ").strip()
    return f"{'.'.join(loc)}: {msg}" if loc and msg else msg


def from_response(status: int, body: bytes, *, what: str, login_hint: bool = True) -> CliError:
    """The error for a non-2xx answer to ``what`` (e.g. "the upload"), in the server's words."""
    detail = detail_of(body)
    if status == 401:
        hint = f" {LOGIN_HINT}" if login_hint else ""
        return CliError(ExitCode.NOT_LOGGED_IN, f"{detail or 'The server did not accept your login.'}{hint}")
    if status == 403:
        return CliError(ExitCode.NOT_LOGGED_IN, detail or f"You may not do {what}.")
    if status == 404:
        return CliError(ExitCode.NOT_FOUND, detail or f"The server does not know {what} (404).")
    if status == 503:
        return CliError(
            ExitCode.UNREACHABLE, detail or "The service is unavailable right now; try again soon."
        )
    if status in (502, 504):
        return CliError(
            ExitCode.UNREACHABLE,
            detail or f"A server behind the API did not answer ({status}); try again soon.",
        )
    if 400 <= status < 500:
        return CliError(ExitCode.REFUSED, detail or f"The server refused {what} ({status}).")
    return CliError(
        ExitCode.SERVER_ERROR, f"The server failed on {what} ({status})" + (f": {detail}" if detail else ".")
    )
