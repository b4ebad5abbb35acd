"""The user's stored logins: one token per API URL, in a JSON file only the user can read.

A token is kept under the URL it was issued for and sent only there, so ``--api`` towards
another server never leaks it. The file is replaced atomically and created with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer

from mp4mp3_cli.errors import CliError, ExitCode

APP_NAME = "mp4mp3"
FILE_NAME = "config.json"


def default_dir() -> Path:
    """The user's config folder (XDG on Linux, Application Support on macOS, AppData on Windows)."""
    return Path(typer.get_app_dir(APP_NAME))


def normalize_url(url: str) -> str:
    return url.strip().rstrip("/")


@dataclass
class Session:
    email: str
    token: str
    expires_at: dt.datetime
    # exchanged at POST /refresh for a new token when this one runs out (servers that issue one)
    refresh_token: str | None = None
    refresh_expires_at: dt.datetime | None = None

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at

    def renewable(self, now: dt.datetime) -> bool:
        return bool(self.refresh_token) and (self.refresh_expires_at is None or now < self.refresh_expires_at)


@dataclass
class StoredConfig:
    api: str | None = None  # the URL `login` last used: the default for later commands
    auth_api: str | None = None
    sessions: dict[str, Session] = field(default_factory=dict)

    def session(self, api: str) -> Session | None:
        return self.sessions.get(normalize_url(api))

    def to_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "auth_api": self.auth_api,
            "sessions": {url: _session_json(s) for url, s in self.sessions.items()},
        }

    @classmethod
    def from_json(cls, document: Any) -> StoredConfig:
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        sessions = {url: _session(s) for url, s in (document.get("sessions") or {}).items()}
        return cls(api=document.get("api"), auth_api=document.get("auth_api"), sessions=sessions)


def _session_json(session: Session) -> dict[str, Any]:
    out = {**asdict(session), "expires_at": session.expires_at.isoformat()}
    if session.refresh_expires_at is not None:
        out["refresh_expires_at"] = session.refresh_expires_at.isoformat()
    return out


def _session(stored: dict[str, Any]) -> Session:
    refresh_until = stored.get("refresh_expires_at")
    return Session(
        str(stored["email"]),
        str(stored["token"]),
        dt.datetime.fromisoformat(stored["expires_at"]),
        refresh_token=str(stored["refresh_token"]) if stored.get("refresh_token") else None,
        refresh_expires_at=dt.datetime.fromisoformat(refresh_until) if refresh_until else None,
    )


class ConfigStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / FILE_NAME

    def load(self) -> StoredConfig:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return StoredConfig()
        except OSError as exc:
            raise CliError(ExitCode.LOCAL_FILE, f"Cannot read {self.path}: {exc.strerror}.") from None
        try:
            return StoredConfig.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError):
            raise CliError(
                ExitCode.LOCAL_FILE,
                f"{self.path} is damaged; delete it and run `mp4mp3 login` again.",
            ) from None

    def save(self, config: StoredConfig) -> None:
        """Write the file as 0600 (the tokens are secrets) in a 0700 folder, atomically."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(config.to_json(), fh, indent=2)
                fh.write("\n")
            os.chmod(tmp, 0o600)  # O_CREAT's mode is narrowed by the umask, never widened; be exact
            os.replace(tmp, self.path)
        except OSError as exc:
            raise CliError(ExitCode.LOCAL_FILE, f"Cannot write {self.path}: {exc.strerror}.") from None
