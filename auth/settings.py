"""The auth service's settings, read from AUTH_* environment variables (the Helm chart sets them)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auth.database import parse_mysql_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    # --- secrets: required, no default (the chart takes them from Kubernetes Secrets) ---
    mysql_url: SecretStr = Field(description="mysql://user:password@host:port/database")
    keys_dir: Path = Field(
        description="Folder of PEM RSA keys: all are published; sorted by file name, the last one signs"
    )
    generate_keys: bool = Field(
        default=False, description="Generate a key into keys_dir when it holds none (devstack only)"
    )
    key_reload_seconds: float = Field(
        default=30.0, ge=0, description="How often keys_dir is checked for rotated keys"
    )

    # --- tokens ---
    issuer: str = "mp4mp3-auth"
    audience: str = "mp4mp3"
    token_ttl_seconds: int = Field(default=900, ge=30, le=24 * 3600)
    refresh_ttl_seconds: int = Field(
        default=30 * 24 * 3600, ge=300, description="How long a session lasts without a login"
    )
    leeway_seconds: int = Field(default=10, ge=0, le=300, description="Clock skew tolerated on exp/iat")

    # --- passwords ---
    password_min_length: int = Field(default=10, ge=8)
    # argon2id at OWASP's recommended floor (19 MiB, 2 passes, 1 lane): ~40 ms per login on one
    # core. RFC 9106's 64 MiB/3/4 profile costs ~300 ms of a 2-core pod. Raising these is safe:
    # older hashes still verify and are re-hashed with the new parameters at the next login.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8 * 1024)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Each argon2 hash holds argon2_memory_kib of RAM: bound how many run at once.
    hash_concurrency: int = Field(default=max(2, os.cpu_count() or 2), ge=1)

    # --- login throttling (failed attempts, shared by all replicas through MySQL) ---
    login_failures_per_email: int = Field(default=5, ge=1)
    login_failures_per_client: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_lockout_seconds: int = Field(default=300, ge=1)

    # --- signup throttling: every signup that reaches MySQL counts (created or taken alike), so
    # one client can neither mass-create accounts nor probe many addresses for a 409 ---
    signups_per_client: int = Field(default=20, ge=1)
    signup_window_seconds: int = Field(
        default=3600, ge=1, description="Also how long a client waits once over"
    )

    # --- clients behind proxies ---
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated IPs or CIDRs of proxies (the gateway, the ingress controller) whose "
        "X-Forwarded-For names the client for throttling; empty: the TCP peer is the client",
    )

    # --- MySQL connections ---
    mysql_pool_size: int = Field(default=8, ge=0, description="Idle connections kept open")
    mysql_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    mysql_query_timeout_seconds: float = Field(default=10.0, gt=0)

    log_level: str = Field(default="INFO", validation_alias=AliasChoices("AUTH_LOG_LEVEL", "LOG_LEVEL"))

    @field_validator("mysql_url")
    @classmethod
    def _mysql_url_parses(cls, value: SecretStr) -> SecretStr:
        parse_mysql_url(value.get_secret_value())  # raises ValueError with a clear message
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # required fields come from the environment
