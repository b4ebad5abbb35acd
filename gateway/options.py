"""Output options of a conversion, from the upload's form fields to the ConversionJob's spec. Pure.

The allowed values mirror crds/conversionjobs.mp4mp3.io.yaml, so a bad option is answered with a
422 naming the field before anything reaches the API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common import webhooks

BITRATES = ("64k", "96k", "128k", "160k", "192k", "224k", "256k", "320k")
CHANNELS = (1, 2)
SAMPLE_RATES = (22050, 32000, 44100, 48000)
MAX_TRIM_SECONDS = 86400.0
FIELDS = (
    "bitrate",
    "quality",
    "channels",
    "sampleRate",
    "trimStart",
    "trimEnd",
    "engine",
    "notifyEmail",
    "priority",
    "callbackUrl",
)
MAX_FIELD_BYTES = 64
# fields allowed to be longer than MAX_FIELD_BYTES
FIELD_LIMITS = {"callbackUrl": webhooks.MAX_URL_LENGTH}


class InvalidOptions(ValueError):
    """An option the user sent is not acceptable; the message says which and why."""


class OutputOptions(BaseModel):
    """What MP3 to make. Form fields (all optional): bitrate or quality, channels, sampleRate,
    trimStart/trimEnd (seconds), engine, notifyEmail, callbackUrl."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    bitrate: str | None = Field(None, description="Constant bitrate", examples=["192k"])
    quality: int | None = Field(None, ge=0, le=9, description="LAME VBR quality, 0 best, 9 smallest")
    channels: int | None = Field(None, description="1 (mono) or 2 (stereo); the source's when unset")
    sample_rate: int | None = Field(None, alias="sampleRate", description="Hz; the source's when unset")
    trim_start: float | None = Field(None, alias="trimStart", ge=0, le=MAX_TRIM_SECONDS)
    trim_end: float | None = Field(None, alias="trimEnd", ge=0, le=MAX_TRIM_SECONDS)
    engine: Literal["ffmpeg", "moviepy"] = "ffmpeg"
    notify_email: bool = Field(True, alias="notifyEmail", description="Email the owner when it ends")
    priority: Literal["low", "normal", "high"] | None = Field(
        None, description="Orders the owner's own queued jobs (high first); normal when unset"
    )
    callback_url: str | None = Field(
        None, alias="callbackUrl", description="An http(s) URL the signed outcome is POSTed to"
    )

    @field_validator("bitrate")
    @classmethod
    def _bitrate(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in BITRATES:
            raise ValueError(f"must be one of {', '.join(BITRATES)}")
        return value.lower() if value else None

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, value: str | None) -> str | None:
        return webhooks.check_syntax(value) if value is not None else None  # UnsafeUrl is a ValueError

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: int | None) -> int | None:
        if value is not None and value not in CHANNELS:
            raise ValueError("must be 1 (mono) or 2 (stereo)")
        return value

    @field_validator("sample_rate")
    @classmethod
    def _sample_rate(cls, value: int | None) -> int | None:
        if value is not None and value not in SAMPLE_RATES:
            raise ValueError(f"must be one of {', '.join(map(str, SAMPLE_RATES))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OutputOptions:
        if self.bitrate is not None and self.quality is not None:
            raise ValueError("set either bitrate (constant) or quality (variable), not both")
        if self.trim_end is not None and self.trim_end <= (self.trim_start or 0.0):
            raise ValueError("trimEnd must be after trimStart")
        return self

    def output_spec(self) -> dict[str, Any]:
        """The ConversionJob's ``spec.output``."""
        out: dict[str, Any] = {}
        if self.bitrate is not None:
            out["bitrate"] = self.bitrate
        if self.quality is not None:
            out["quality"] = self.quality
        if self.channels is not None:
            out["channels"] = self.channels
        if self.sample_rate is not None:
            out["sampleRate"] = self.sample_rate
        trim = {k: v for k, v in (("start", self.trim_start), ("end", self.trim_end)) if v is not None}
        if trim:
            out["trim"] = trim
        return out

    def public(self) -> dict[str, Any]:
        """The options as the API shows them (form-field names, unset ones left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


def parse_options(fields: Mapping[str, str]) -> OutputOptions:
    """Validate raw form values (empty ones count as unset); raises :class:`InvalidOptions`."""
    values = {k: v.strip() for k, v in fields.items() if v.strip()}
    try:
        return OutputOptions.model_validate(values)
    except ValidationError as exc:
        raise InvalidOptions(_sentence(exc)) from None


def _sentence(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown option {where!r} (known: {', '.join(FIELDS)})")
        elif where:
            parts.append(f"{where}: {msg}")
        else:
            parts.append(msg)
    return "Invalid output options: " + "; ".join(parts) + "."


def conversion_spec(
    *,
    video_id: str,
    filename: str,
    size: int,
    sha256: str,
    user_id: str,
    email: str,
    options: OutputOptions,
) -> dict[str, Any]:
    """The whole ConversionJob spec for an accepted upload."""
    return {
        "source": {"videoId": video_id, "filename": filename, "size": size, "sha256": sha256},
        "owner": {"userId": user_id, "email": email},
        "output": options.output_spec(),
        "engine": options.engine,
        "notify": _notify(options),
        **({"priority": options.priority} if options.priority else {}),
    }


def _notify(options: OutputOptions) -> dict[str, Any]:
    notify: dict[str, Any] = {"email": options.notify_email}
    if options.callback_url:
        notify["callbackUrl"] = options.callback_url
    return notify
