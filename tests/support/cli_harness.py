"""Helpers for the CLI's tests: the CLI run in-process with its own config folder, accounts,
ports nothing listens on, a throwaway gateway's readiness."""

from __future__ import annotations

import datetime as dt
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from devstack.config import LOOPBACK
from mp4mp3_cli.app import app
from mp4mp3_cli.config import ConfigStore, Session

SMALL_GATEWAY_OFFSET = 800  # the CLI suite's throwaway gateway: 26000 + 800


@dataclass
class Cli:
    """``mp4mp3 ARGS`` in-process, with its own config folder and the devstack's URLs in env."""

    config_dir: Path
    env: dict[str, str | None]

    def __call__(self, *args: str, stdin: str | None = None, **env: str | None) -> Result:
        result = CliRunner().invoke(app, list(args), env={**self.env, **env}, input=stdin)
        assert "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    def store(self) -> ConfigStore:
        return ConfigStore(self.config_dir)

    def remember(self, api: str, token: str, minutes: float = 15, email: str = "x@mp4mp3.localhost") -> None:
        """Store a login as `mp4mp3 login` would, with any token."""
        config = self.store().load()
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
        config.sessions[api.rstrip("/")] = Session(email, token, expires)
        self.store().save(config)


@dataclass
class Account:
    email: str
    password: str


def new_account() -> Account:
    return Account(f"cli-{secrets.token_hex(5)}@mp4mp3.localhost", f"cli {secrets.token_urlsafe(12)}")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def gateway_ready(url: str) -> bool:
    """The gateway at ``url`` answers /readyz with 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
