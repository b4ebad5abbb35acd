"""The gateway's settings, from env variables prefixed ``GATEWAY_`` (the Helm chart sets the same)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network

from pydantic import Field, HttpUrl, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.webhooks import parse_networks

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    # where the data lives; no defaults, and secret: the URLs carry credentials in production
    mongo_uri: SecretStr = Field(
        description="MongoDB URI naming the database, e.g. mongodb://host:27017/mp4mp3"
    )
    amqp_url: SecretStr = Field(description="RabbitMQ URL, e.g. amqp://user:pass@host:5672/%2F")

    # tokens: verified locally against the auth service's JWKS
    auth_url: HttpUrl = Field(description="Base URL of the auth service (POST /login is proxied there)")
    jwks_url: HttpUrl = Field(description="The auth service's JWKS document")
    jwt_issuer: str = Field(description="Expected `iss` claim")
    jwt_audience: str = Field(description="Expected `aud` claim")
    jwt_leeway_seconds: float = Field(10.0, ge=0, le=300, description="Clock skew tolerated on exp/iat")
    jwks_cache_seconds: float = Field(300.0, gt=0, description="How long fetched keys are trusted")
    token_version_cache_seconds: float = Field(
        5.0,
        gt=0,
        description="How long a user's token version is trusted: a logged-out token passes at most this long",
    )
    jwks_min_refresh_seconds: float = Field(
        5.0, ge=0, description="At most one JWKS fetch per this interval (unknown kids cannot force more)"
    )

    # Kubernetes: KUBECONFIG (or ~/.kube/config) if set, the pod's ServiceAccount otherwise
    namespace: str = Field(description="Namespace the ConversionJobs are created in")
    kubeconfig: str | None = Field(None, validation_alias="KUBECONFIG")
    kube_timeout_seconds: float = Field(5.0, gt=0, description="Per-call timeout towards the API server")

    public_url: HttpUrl = Field(description="Base URL clients reach the gateway at (for job URLs)")

    # uploads
    max_upload_bytes: int = Field(4 * 1024 * MiB, gt=0, description="Largest video accepted (413 above)")
    upload_batch_bytes: int = Field(
        2 * MiB, ge=128 * 1024, le=32 * MiB, description="GridFS chunks inserted per round trip"
    )
    upload_memory_bytes: int = Field(
        64 * MiB,
        ge=8 * MiB,
        description="Memory all uploads in progress may hold together (their batches on the way to "
        "GridFS); more concurrent uploads wait their turn instead of growing the process",
    )
    drain_limit_bytes: int = Field(
        64 * MiB,
        ge=0,
        description="After rejecting an upload, read up to this much more of the body so the client "
        "receives the 4xx instead of a reset connection",
    )
    # per-user limits (0: none)
    storage_quota_bytes: int = Field(
        20 * 1024 * MiB, ge=0, description="Bytes of videos and MP3s one user may keep (413 above)"
    )
    jobs_in_flight: int = Field(
        50, ge=0, description="Conversions one user may have unfinished or queued at once (429)"
    )
    uploads_per_hour: int = Field(30, ge=0, description="Uploads one user may make per rolling hour (429)")
    upload_idle_timeout_seconds: float = Field(
        60.0, gt=0, description="An upload that sends nothing for this long is cut off (408) and removed"
    )
    orphan_sweep_seconds: float = Field(
        3600.0,
        ge=0,
        description="How often the chunks of uploads whose gateway died mid-way are looked for and "
        "removed (0: never)",
    )
    orphan_age_seconds: float = Field(
        86400.0,
        ge=1,
        description="An upload begun this long ago without its file stored is taken as orphaned: "
        "longer than any upload takes",
    )
    reject_linger_seconds: float = Field(
        2.0,
        ge=0,
        description="After answering an oversized upload, how long its connection may go on "
        "receiving (discarded) before it is closed, so the client reads the 413",
    )
    download_read_bytes: int = Field(1 * MiB, ge=64 * 1024, le=16 * MiB, description="Bytes per read")

    # download links in emails (common/links.py): the notification service signs with the same secret
    download_link_secret: SecretStr | None = Field(
        None, description="Verifies emailed download links (at least 32 bytes); unset: links are refused"
    )

    # clients behind proxies
    trusted_proxies: str = Field(
        "",
        description="Comma-separated IPs or CIDRs of proxies (the ingress controller) whose "
        "X-Forwarded-For names the client; empty: the TCP peer is the client",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins (https://app.example) whose pages may call the API "
        "from a browser; empty: none (CORS closed)",
    )
    events_heartbeat_seconds: float = Field(
        15.0, ge=1, le=300, description="GET /jobs/events sends a comment this often while nothing changes"
    )

    # webhooks (common/webhooks.py); deliveries are made by the notification service
    webhook_allowed_networks: str = Field(
        "",
        description="Comma-separated CIDRs a webhook URL may resolve to although private or reserved "
        "(e.g. 127.0.0.0/8 on a test machine); empty: only public addresses",
    )
    webhooks_per_user: int = Field(10, ge=1, le=100, description="Webhooks one user may register")

    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at GET /metrics")

    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")

    @property
    def webhook_networks(self) -> list[IPv4Network | IPv6Network]:
        return parse_networks(self.webhook_allowed_networks)


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # required fields come from the environment
