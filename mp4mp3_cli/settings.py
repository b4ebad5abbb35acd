"""The command line's settings, from env variables prefixed ``MP4MP3_``.

Built once per command (not cached for the process): a test runs many commands in one process,
each with its own environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The Helm chart's NOTES forward the gateway to this port; on the devstack use $GATEWAY_URL.
DEFAULT_API = "http://localhost:8080"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MP4MP3_", extra="ignore")

    api: str | None = Field(default=None, description="Gateway URL (over the one `login` stored)")
    auth_api: str | None = Field(default=None, description="Auth service URL for signup (default: the API's)")
    config_dir: Path | None = Field(default=None, description="Where the login is kept (default: the user's)")
    password: SecretStr | None = Field(
        default=None, description="Password for signup/login, instead of a prompt"
    )
    timeout_seconds: float = Field(
        default=30.0, gt=0, description="Connect and per-read timeout of a request"
    )
    poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often a running job is asked about"
    )
    patience_seconds: float = Field(
        default=120.0, ge=0, description="How long a wait for a job outlasts an unreachable server"
    )
    parallel: int = Field(default=4, ge=1, le=32, description="Files converted at once by `convert`")
