"""The notification service's settings, read from NOTIFY_* environment variables (the chart sets them)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import links
from common.messaging import EVENTS_EXCHANGE
from common.webhooks import parse_networks


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    # --- connections: required, no default (credentials live in them; the chart uses Secrets) ---
    amqp_url: SecretStr = Field(description="amqp://user:password@host:port/vhost")
    mongo_uri: SecretStr = Field(description="mongodb://host:port/database (where sent events are kept)")

    # --- RabbitMQ ---
    queue: str = Field(
        default="notification.outcomes", description="Our queue; .retry and .parked are derived from it"
    )
    events_exchange: str = Field(default=EVENTS_EXCHANGE, description="Changed only by tests")
    prefetch: int = Field(default=10, ge=1, description="Unacknowledged messages held at once")
    reconnect_initial_delay_seconds: float = Field(default=0.5, gt=0)
    reconnect_max_delay_seconds: float = Field(default=30.0, gt=0)

    # --- retries of failed sends ---
    max_attempts: int = Field(default=8, ge=1, description="Sends tried before a message is parked")
    retry_initial_delay_seconds: float = Field(default=5.0, gt=0, description="Wait after the first failure")
    retry_backoff_factor: float = Field(default=3.0, ge=1, description="Each wait is this times the last")
    retry_max_delay_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Longest wait; also the retry queue's x-message-ttl (changing it means re-creating it)",
    )

    # --- webhooks (common/webhooks.py): their own queue, so a slow receiver never holds up an email ---
    webhook_queue: str = Field(
        default="notification.webhooks", description="Webhook deliveries' queue; .retry and .parked derived"
    )
    webhook_max_attempts: int = Field(default=8, ge=1, description="POSTs to one URL before it is parked")
    webhook_retry_initial_delay_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_backoff_factor: float = Field(default=3.0, ge=1)
    webhook_retry_max_delay_seconds: float = Field(
        default=600.0, gt=0, description="Longest wait; the webhook retry queue's x-message-ttl"
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Per POST to a receiver")
    webhook_allowed_networks: str = Field(
        default="",
        description="Comma-separated CIDRs receivers may resolve to although private or reserved "
        "(e.g. 127.0.0.0/8 on a test machine); empty: public addresses only",
    )

    # --- metrics ---
    metrics_port: int = Field(default=9102, ge=0, le=65535, description="Prometheus /metrics; 0: off")
    metrics_host: str = Field(default="0.0.0.0", description="Address the metrics server listens on")

    # --- SMTP ---
    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=True, description="Upgrade with STARTTLS before login and sending")
    smtp_timeout_seconds: float = Field(default=20.0, gt=0, description="Per connect/command on the socket")
    smtp_ca_file: Path | None = Field(
        default=None, description="CA bundle that signed the SMTP server's certificate; default: the system's"
    )

    # --- the mail ---
    mail_from: str = Field(description='The sender, e.g. "mp4mp3 <no-reply@example.com>"')
    public_url: str = Field(description="Base URL users reach the REST API at; links are built on it")
    download_link_secret: SecretStr | None = Field(
        default=None,
        description="Signs download links that work without logging in (the gateway holds the same "
        "secret, at least 32 bytes); unset: links ask the user to log in",
    )
    download_link_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, description="How long a link works")

    # --- sent-event records (de-duplication) ---
    sent_collection: str = "notifications_sent"
    mongo_timeout_seconds: float = Field(default=5.0, gt=0)

    log_level: str = Field(default="INFO", validation_alias=AliasChoices("NOTIFY_LOG_LEVEL", "LOG_LEVEL"))

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if bool(self.smtp_user) != bool(self.smtp_password):
            raise ValueError("set both NOTIFY_SMTP_USER and NOTIFY_SMTP_PASSWORD, or neither")
        if self.retry_initial_delay_seconds > self.retry_max_delay_seconds:
            raise ValueError("NOTIFY_RETRY_INITIAL_DELAY_SECONDS exceeds NOTIFY_RETRY_MAX_DELAY_SECONDS")
        secret = self.download_link_secret.get_secret_value() if self.download_link_secret else ""
        if secret and len(secret.encode()) < links.MIN_SECRET_BYTES:
            raise ValueError(f"NOTIFY_DOWNLOAD_LINK_SECRET must be at least {links.MIN_SECRET_BYTES} bytes")
        if self.webhook_retry_initial_delay_seconds > self.webhook_retry_max_delay_seconds:
            raise ValueError(
                "NOTIFY_WEBHOOK_RETRY_INITIAL_DELAY_SECONDS exceeds NOTIFY_WEBHOOK_RETRY_MAX_DELAY_SECONDS"
            )
        parse_networks(self.webhook_allowed_networks)  # a typo fails the start, not the first delivery
        if not self.public_url.startswith(("http://", "https://")):
            raise ValueError("NOTIFY_PUBLIC_URL must be an http(s) URL")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # required fields come from the environment
