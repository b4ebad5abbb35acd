"""Output options of ``convert``: checked before a byte is uploaded, sent as the form fields of
POST /jobs. Pure.

The allowed values are the REST API's (its OpenAPI document lists them); the server checks them
again, this check only spares a long upload that would be refused at its end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BITRATES = ("64k", "96k", "128k", "160k", "192k", "224k", "256k", "320k")
SAMPLE_RATES = (22050, 32000, 44100, 48000)
CHANNELS = (1, 2)
ENGINES = ("ffmpeg", "moviepy")
FORMATS = ("mp3", "m4a", "opus", "flac")  # common.formats.FORMAT_NAMES; the server checks again
TAG_CHARS, COMMENT_CHARS = 256, 1000
LOUDNESS_RANGE = (-40.0, -5.0)
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


class InvalidOption(ValueError):
    """A sentence saying which option is wrong and what would be right."""


@dataclass(frozen=True)
class OutputOptions:
    bitrate: str | None = None
    quality: int | None = None
    channels: int | None = None
    sample_rate: int | None = None
    trim_start: float | None = None
    trim_end: float | None = None
    engine: str | None = None
    notify_email: bool = True
    format: str | None = None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    year: int | None = None
    comment: str | None = None
    cover_art: str | None = None
    chapters: bool | None = None
    loudness: str | None = None  # a LUFS target or "on"
    trim_silence: bool = False

    @property
    def extension(self) -> str:
        """Of the file the job makes (the download's name says so too)."""
        return self.format or "mp3"

    def form_fields(self) -> dict[str, str]:
        """The multipart fields of POST /jobs (unset options are left to the server)."""
        fields = {
            "bitrate": self.bitrate,
            "quality": self.quality,
            "channels": self.channels,
            "sampleRate": self.sample_rate,
            "trimStart": _number(self.trim_start),
            "trimEnd": _number(self.trim_end),
            "engine": self.engine,
            "format": self.format,
            "title": self.title,
            "artist": self.artist,
            "album": self.album,
            "year": self.year,
            "comment": self.comment,
            "coverArt": self.cover_art,
            "loudness": self.loudness,
        }
        out = {name: str(value) for name, value in fields.items() if value is not None}
        if not self.notify_email:
            out["notifyEmail"] = "false"
        if self.chapters is not None:
            out["chapters"] = "true" if self.chapters else "false"
        if self.trim_silence:
            out["trimSilence"] = "true"
        return out


def output_options(
    *,
    bitrate: str | None = None,
    quality: int | None = None,
    channels: int | None = None,
    sample_rate: int | None = None,
    trim_start: str | None = None,
    trim_end: str | None = None,
    engine: str | None = None,
    notify_email: bool = True,
    audio: AudioOptions | None = None,
) -> OutputOptions:
    """The options as typed on the command line, checked; raises :class:`InvalidOption`."""
    audio = audio or AudioOptions()
    _check_audio(audio, quality=quality, bitrate=bitrate, sample_rate=sample_rate, engine=engine)
    if bitrate is not None and quality is not None:
        raise InvalidOption("Use --bitrate (constant) or --quality (variable), not both.")
    if quality is not None and not 0 <= quality <= 9:
        raise InvalidOption("--quality must be 0 (best) to 9 (smallest).")
    if channels is not None and channels not in CHANNELS:
        raise InvalidOption("--channels must be 1 (mono) or 2 (stereo).")
    if sample_rate is not None and sample_rate not in SAMPLE_RATES:
        raise InvalidOption(f"--sample-rate must be one of {', '.join(map(str, SAMPLE_RATES))}.")
    if engine is not None and engine not in ENGINES:
        raise InvalidOption(f"--engine must be one of {', '.join(ENGINES)}.")
    start = parse_seconds(trim_start, "--trim-start") if trim_start is not None else None
    end = parse_seconds(trim_end, "--trim-end") if trim_end is not None else None
    if end is not None and end <= (start or 0.0):
        raise InvalidOption("--trim-end must be after --trim-start.")
    return OutputOptions(
        bitrate=parse_bitrate(bitrate) if bitrate is not None else None,
        quality=quality,
        channels=channels,
        sample_rate=sample_rate,
        trim_start=start,
        trim_end=end,
        engine=engine,
        notify_email=notify_email,
        format=audio.format,
        title=audio.title,
        artist=audio.artist,
        album=audio.album,
        year=audio.year,
        comment=audio.comment,
        cover_art=_cover(audio.cover_art),
        chapters=audio.chapters,
        loudness=audio.loudness,
        trim_silence=audio.trim_silence,
    )


@dataclass(frozen=True)
class AudioOptions:
    """The options beyond a plain MP3: format, tags, cover art, chapters, loudness, silence."""

    format: str | None = None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    year: int | None = None
    comment: str | None = None
    cover_art: str | None = None
    chapters: bool | None = None
    loudness: str | None = None
    trim_silence: bool = False


def _check_audio(
    audio: AudioOptions,
    *,
    quality: int | None,
    bitrate: str | None,
    sample_rate: int | None,
    engine: str | None,
) -> None:
    fmt = audio.format or "mp3"
    if fmt not in FORMATS:
        raise InvalidOption(f"--format must be one of {', '.join(FORMATS)}.")
    if quality is not None and fmt != "mp3":
        raise InvalidOption(f"--quality is for MP3 only; use --bitrate for {fmt}.")
    if bitrate is not None and fmt == "flac":
        raise InvalidOption("--format flac is lossless and takes no --bitrate.")
    if sample_rate not in (None, 48000) and fmt == "opus":
        raise InvalidOption("--format opus is always 48000 Hz; leave --sample-rate out.")
    for option, text, most in (
        ("--title", audio.title, TAG_CHARS),
        ("--artist", audio.artist, TAG_CHARS),
        ("--album", audio.album, TAG_CHARS),
        ("--comment", audio.comment, COMMENT_CHARS),
    ):
        if text is not None and len(text) > most:
            raise InvalidOption(f"{option} takes at most {most} characters.")
    if audio.year is not None and not 1000 <= audio.year <= 9999:
        raise InvalidOption("--year takes a four-digit year.")
    _cover(audio.cover_art)
    if audio.loudness is not None and audio.loudness.lower() != "on":
        try:
            target = float(audio.loudness)
        except ValueError:
            raise InvalidOption("--loudness takes a target in LUFS (e.g. -16) or 'on'.") from None
        low, high = LOUDNESS_RANGE
        if not low <= target <= high:
            raise InvalidOption(f"--loudness must be between {low:g} and {high:g} LUFS.")
    plain = audio == AudioOptions(format=audio.format, chapters=audio.chapters) and fmt == "mp3"
    if engine == "moviepy" and not plain:
        raise InvalidOption("--engine moviepy makes a plain MP3 only.")


def _cover(text: str | None) -> str | None:
    """auto, none, or a time in the video (seconds or [h:]mm:ss, like the trims) as seconds."""
    if text is None or text.strip().lower() in ("auto", "none"):
        return text.strip().lower() if text else None
    return _number(parse_seconds(text, "--cover-art"))


def parse_bitrate(text: str) -> str:
    """'192', '192k', '192K' -> '192k'."""
    value = text.strip().lower()
    value = value if value.endswith("k") else f"{value}k"
    if value not in BITRATES:
        raise InvalidOption(f"--bitrate must be one of {', '.join(BITRATES)} (got {text!r}).")
    return value


def parse_seconds(text: str, option: str) -> float:
    """'90', '90.5', '1:30', '0:01:30.5' -> seconds."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        match = _CLOCK.match(value)
        if not match:
            raise InvalidOption(f"{option} takes seconds (90) or a time ([h:]mm:ss), not {text!r}.") from None
        hours, minutes, secs = match.groups()
        if int(minutes) >= 60 or float(secs) >= 60:
            raise InvalidOption(f"{option}: minutes and seconds go up to 59 in {text!r}.") from None
        seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    if not 0 <= seconds <= 86400:  # also refuses nan and inf
        raise InvalidOption(f"{option} must be between 0 and 86400 seconds.")
    return seconds


def _number(value: float | None) -> str | None:
    return None if value is None else f"{value:g}" if value == int(value) else repr(value)
