"""Output options of a conversion, from the upload's form fields to the ConversionJob's spec. Pure.

The allowed values mirror crds/conversionjobs.mp4mp3.io.yaml, so a bad option is answered with a
422 naming the field before anything reaches the API server.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common import webhooks
from common.formats import FORMAT_NAMES

BITRATES = ("64k", "96k", "128k", "160k", "192k", "224k", "256k", "320k")
CHANNELS = (1, 2)
SAMPLE_RATES = (22050, 32000, 44100, 48000)
OPUS_RATE = 48000
MAX_TRIM_SECONDS = 86400.0
TAG_CHARS = 256  # title, artist, album (the CRD's maxLength)
COMMENT_CHARS = 1000
LOUDNESS_RANGE = (-40.0, -5.0)  # LUFS
DEFAULT_LOUDNESS = -16.0  # LUFS, spoken word: what ``loudness=on`` asks for
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
    "format",
    "title",
    "artist",
    "album",
    "year",
    "comment",
    "coverArt",
    "chapters",
    "loudness",
    "trimSilence",
)
MAX_FIELD_BYTES = 64
# text fields may be longer; four UTF-8 bytes per character at most
FIELD_BYTES = {
    "title": 4 * TAG_CHARS,
    "artist": 4 * TAG_CHARS,
    "album": 4 * TAG_CHARS,
    "comment": 4 * COMMENT_CHARS,
    "callbackUrl": webhooks.MAX_URL_LENGTH,
}
Format = Literal["mp3", "m4a", "opus", "flac"]  # common.formats.FORMAT_NAMES (a unit test holds them equal)


def field_bytes(name: str) -> int:
    """The most bytes the form field ``name`` may hold."""
    return FIELD_BYTES.get(name, MAX_FIELD_BYTES)


class InvalidOptions(ValueError):
    """An option the user sent is not acceptable; the message says which and why."""


class OutputOptions(BaseModel):
    """What audio to make. Form fields (all optional): format, bitrate or quality, channels,
    sampleRate, trimStart/trimEnd (seconds), engine, notifyEmail, callbackUrl, priority; tags (title,
    artist, album, year, comment), coverArt, chapters, loudness, trimSilence."""

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
    format: Format | None = Field(None, description="mp3 (default), m4a (AAC), opus or flac")
    title: str | None = Field(None, max_length=TAG_CHARS, description="Title tag; the file name when unset")
    artist: str | None = Field(None, max_length=TAG_CHARS)
    album: str | None = Field(None, max_length=TAG_CHARS)
    year: int | None = Field(None, ge=1000, le=9999)
    comment: str | None = Field(None, max_length=COMMENT_CHARS)
    cover_art: str | None = Field(None, alias="coverArt", description="auto, none, or a second of the video")
    chapters: bool | None = Field(None, description="Carry the video's chapters over (default true)")
    loudness: float | None = Field(None, description="Target LUFS, -40 to -5; 'on' for -16")
    trim_silence: bool | None = Field(None, alias="trimSilence", description="Cut silence at both ends")

    @field_validator("title", "artist", "album", "comment")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        """Without control characters (a comment keeps its line breaks); blank counts as unset."""
        if value is None:
            return None
        kept = "".join(c for c in value if unicodedata.category(c)[0] != "C" or c == "\n")
        return unicodedata.normalize("NFC", kept).strip() or None

    @field_validator("cover_art")
    @classmethod
    def _cover_art(cls, value: str | None) -> str | None:
        if value is None or value.lower() in ("auto", "none"):
            return value.lower() if value else None
        try:
            second = float(value)
        except ValueError:
            raise ValueError("must be auto, none, or a second of the video (e.g. 12.5)") from None
        if not 0 <= second <= MAX_TRIM_SECONDS:  # also refuses nan and inf
            raise ValueError(f"must be a second between 0 and {MAX_TRIM_SECONDS:g}")
        return f"{round(second, 3):g}"

    @field_validator("loudness", mode="before")
    @classmethod
    def _loudness(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("on", "true", "default"):
            return DEFAULT_LOUDNESS
        if isinstance(value, str) and value.strip().lower() in ("off", "false", "none"):
            return None
        return value

    @field_validator("loudness")
    @classmethod
    def _loudness_range(cls, value: float | None) -> float | None:
        low, high = LOUDNESS_RANGE
        if value is not None and not low <= value <= high:
            raise ValueError(f"must be a target between {low:g} and {high:g} LUFS (e.g. -16), or 'on'")
        return value

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
        fmt = self.format or "mp3"
        if self.quality is not None and fmt != "mp3":
            raise ValueError(f"quality (LAME VBR) is for MP3 only; use bitrate for {fmt}")
        if self.bitrate is not None and fmt == "flac":
            raise ValueError("flac is lossless and takes no bitrate")
        if self.sample_rate not in (None, OPUS_RATE) and fmt == "opus":
            raise ValueError(f"opus is always {OPUS_RATE} Hz; leave sampleRate unset")
        if self.engine == "moviepy" and self._beyond_plain_mp3():
            raise ValueError(
                "engine moviepy makes a plain MP3 only; leave engine unset for format, tags, "
                "coverArt, loudness or trimSilence"
            )
        return self

    def _beyond_plain_mp3(self) -> bool:
        tags = (self.title, self.artist, self.album, self.year, self.comment)
        return (
            self.format not in (None, "mp3")
            or any(t is not None for t in tags)
            or self.cover_art not in (None, "none")
            or self.loudness is not None
            or bool(self.trim_silence)
        )

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
        tags = {
            k: v
            for k, v in (
                ("title", self.title),
                ("artist", self.artist),
                ("album", self.album),
                ("year", self.year),
                ("comment", self.comment),
            )
            if v is not None
        }
        if tags:
            out["tags"] = tags
        extra = {
            "format": self.format,
            "coverArt": self.cover_art,
            "chapters": self.chapters,
            "loudness": self.loudness,
            "trimSilence": self.trim_silence,
        }
        out.update({k: v for k, v in extra.items() if v is not None})
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


def form_properties() -> dict[str, Any]:
    """The option fields of the upload form as the OpenAPI document describes them."""
    text = {"type": "string", "maxLength": TAG_CHARS}
    low, high = LOUDNESS_RANGE
    return {
        "format": {
            "type": "string",
            "enum": list(FORMAT_NAMES),
            "default": "mp3",
            "description": "m4a is AAC",
        },
        "bitrate": {"type": "string", "enum": list(BITRATES), "description": "CBR (not for flac)"},
        "quality": {"type": "integer", "minimum": 0, "maximum": 9, "description": "MP3 VBR 0-9"},
        "channels": {"type": "integer", "enum": list(CHANNELS)},
        "sampleRate": {"type": "integer", "enum": list(SAMPLE_RATES), "description": "opus: 48000 only"},
        "trimStart": {"type": "number", "minimum": 0, "description": "Seconds"},
        "trimEnd": {"type": "number", "minimum": 0, "description": "Seconds"},
        "title": {**text, "description": "Title tag; default: the file's name without extension"},
        "artist": text,
        "album": text,
        "year": {"type": "integer", "minimum": 1000, "maximum": 9999},
        "comment": {"type": "string", "maxLength": COMMENT_CHARS},
        "coverArt": {
            "type": "string",
            "default": "none",
            "description": "auto (a representative frame), none, or a second of the video; 500x500",
        },
        "chapters": {"type": "boolean", "default": True, "description": "The video's chapters"},
        "loudness": {
            "type": "string",
            "description": f"EBU R128 target in LUFS ({low:g} to {high:g}), or 'on' for -16; unset: off",
            "examples": ["-16", "on"],
        },
        "trimSilence": {"type": "boolean", "default": False, "description": "Cut silence at both ends"},
        "engine": {"type": "string", "enum": ["ffmpeg", "moviepy"], "default": "ffmpeg"},
        "notifyEmail": {"type": "boolean", "default": True},
        "callbackUrl": {"type": "string", "format": "uri", "description": "The signed outcome goes here"},
        "priority": {"type": "string", "enum": ["low", "normal", "high"], "default": "normal"},
    }
