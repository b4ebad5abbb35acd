"""The part of a ConversionJob's spec the converter needs, as the operator passes it (JSON in env)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from common.formats import audio_filename, title_of

Engine = Literal["ffmpeg", "moviepy"]
Format = Literal["mp3", "m4a", "opus", "flac"]
DEFAULT_BITRATE = "192k"
DEFAULT_LOUDNESS_TARGET = -16.0  # LUFS, spoken word (the CRD documents it)


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


class Tags(_Model):
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    year: int | None = None
    comment: str | None = None


class Output(_Model):
    format: Format = "mp3"
    bitrate: str | None = None
    quality: int | None = None
    channels: int | None = None
    sample_rate: int | None = Field(default=None, alias="sampleRate")
    trim: Trim | None = None
    tags: Tags = Tags()
    cover_art: str = Field(default="none", alias="coverArt")  # auto, none or a second of the video
    chapters: bool = True
    loudness: float | None = None  # target LUFS; None: no normalisation
    trim_silence: bool = Field(default=False, alias="trimSilence")

    @property
    def effective_bitrate(self) -> str | None:
        """CBR unless VBR quality was asked for (the CRD's documented default); FLAC has none."""
        if self.quality is not None or self.format == "flac":
            return None
        return self.bitrate or DEFAULT_BITRATE

    @property
    def cover_second(self) -> float | None:
        """The second of the video to take the cover from; None for ``auto`` (and ``none``)."""
        try:
            return float(self.cover_art)
        except ValueError:
            return None

    @property
    def wants_cover(self) -> bool:
        return self.cover_art != "none"

    @property
    def plain(self) -> bool:
        """A plain MP3 as before any of tags, cover, loudness and formats: what MoviePy can make."""
        return (
            self.format == "mp3" and not self.wants_cover and self.loudness is None and not self.trim_silence
        )


class Spec(_Model):
    source: Source
    owner: Owner
    output: Output = Output()
    engine: Engine | None = None

    @property
    def mp3_filename(self) -> str:
        """The audio file's name: the video's stem with the format's extension."""
        return audio_filename(self.source.filename, self.output.format)

    @property
    def title(self) -> str:
        """The title tag: the one given, else the upload's name without extension."""
        return self.output.tags.title or title_of(self.source.filename)
