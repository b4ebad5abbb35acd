"""Which server a command talks to and with which token: the command line's option, else the
env (``MP4MP3_API``), else what ``login`` stored, else the default."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from mp4mp3_cli.api import Api
from mp4mp3_cli.config import ConfigStore, Session, StoredConfig, default_dir, normalize_url
from mp4mp3_cli.errors import CliError, ExitCode
from mp4mp3_cli.settings import DEFAULT_API, Settings


def pick_url(option: str | None, env: str | None, stored: str | None, default: str, name: str) -> str:
    """The first URL given, checked to be http(s) and normalized (no trailing slash)."""
    url = next(u for u in (option, env, stored, default) if u)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(ExitCode.USAGE, f"{name} must be an http:// or https:// URL, not {url!r}.")
    return normalize_url(url)


RENEW_MARGIN = dt.timedelta(seconds=30)  # renew a token this close to its end: it must outlast the request


def session_from_tokens(email: str, tokens: dict[str, Any], now: dt.datetime) -> Session:
    """What a login or a refresh answered, as a stored session."""
    now = now.replace(microsecond=0)
    expires_in = tokens.get("expires_in")
    lifetime = dt.timedelta(seconds=expires_in if isinstance(expires_in, int) and expires_in > 0 else 86400)
    refresh_in = tokens.get("refresh_expires_in")
    refresh = tokens.get("refresh_token")
    return Session(
        email=email,
        token=str(tokens["access_token"]),
        expires_at=now + lifetime,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        refresh_expires_at=now + dt.timedelta(seconds=refresh_in) if isinstance(refresh_in, int) else None,
    )


def require_session(config: StoredConfig, api: str, now: dt.datetime) -> Session:
    """The stored login for ``api``, or why there is none usable."""
    session = config.session(api)
    if session is None:
        raise CliError(ExitCode.NOT_LOGGED_IN, f"You are not logged in to {api}. Run `mp4mp3 login`.")
    if session.expired(now):
        when = session.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
        raise CliError(
            ExitCode.NOT_LOGGED_IN,
            f"Your login to {api} as {session.email} expired at {when}. Run `mp4mp3 login` again.",
        )
    return session


def load_settings() -> Settings:
    """The env's settings; a bad value is a usage error naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MP4MP3_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise CliError(ExitCode.USAGE, f"Bad setting in the environment: {problems}.") from None


@dataclass
class Invocation:
    """What one command needs to know: settings, the stored config, and the URLs to use."""

    settings: Settings
    store: ConfigStore
    config: StoredConfig
    api_url: str
    auth_url: str

    @classmethod
    def resolve(cls, api: str | None, auth_api: str | None, config_dir: Path | None) -> Invocation:
        settings = load_settings()
        store = ConfigStore(config_dir or settings.config_dir or default_dir())
        config = store.load()
        api_url = pick_url(api, settings.api, config.api, DEFAULT_API, "--api")
        auth_url = pick_url(auth_api, settings.auth_api, config.auth_api, api_url, "--auth-api")
        return cls(settings, store, config, api_url, auth_url)

    def client(self, *, logged_in: bool = True) -> Api:
        token = self.session().token if logged_in else None
        return Api(self.api_url, token=token, timeout=self.settings.timeout_seconds)

    def session(self) -> Session:
        """The stored login for this API, renewed with its refresh token when its access token
        has run out (or is about to); the renewed tokens are stored."""
        now = dt.datetime.now(dt.UTC)
        stored = self.config.session(self.api_url)
        if stored is not None and stored.expired(now + RENEW_MARGIN) and stored.renewable(now):
            assert stored.refresh_token is not None
            with Api(self.api_url, timeout=self.settings.timeout_seconds) as api:
                tokens = api.refresh(stored.refresh_token)
            if tokens is None:
                del self.config.sessions[self.api_url]
                self.store.save(self.config)
                raise CliError(
                    ExitCode.NOT_LOGGED_IN,
                    f"Your login to {self.api_url} as {stored.email} has ended (logged out, or expired). "
                    "Run `mp4mp3 login` again.",
                )
            self.config.sessions[self.api_url] = session_from_tokens(stored.email, tokens, now)
            self.store.save(self.config)
        return require_session(self.config, self.api_url, now)
