"""The part of a ConversionJob's spec the converter needs, as the operator passes it (JSON in env)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Engine = Literal["ffmpeg", "moviepy"]
DEFAULT_BITRATE = "192k"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Source(_Model):
    video_id: str = Field(alias="videoId")
    filename: str
    size: int | None = None
    sha256: str | None = None


class Owner(_Model):
    user_id: str = Field(alias="userId")
    email: str | None = None


class Trim(_Model):
    start: float = 0.0
    end: float | None = None


class Output(_Model):
    bitrate: str | None = None
    quality: int | None = None
    channels: int | None = None
    sample_rate: int | None = Field(default=None, alias="sampleRate")
    trim: Trim | None = None

    @property
    def effective_bitrate(self) -> str | None:
        """CBR unless VBR quality was asked for (the CRD's documented default)."""
        if self.quality is not None:
            return None
        return self.bitrate or DEFAULT_BITRATE


class Spec(_Model):
    source: Source
    owner: Owner
    output: Output = Output()
    engine: Engine | None = None

    @property
    def mp3_filename(self) -> str:
        stem = self.source.filename.rsplit("/", 1)[-1]
        stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
        return f"{stem or 'audio'}.mp3"
