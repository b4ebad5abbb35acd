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
        }
        out = {name: str(value) for name, value in fields.items() if value is not None}
        if not self.notify_email:
            out["notifyEmail"] = "false"
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
) -> OutputOptions:
    """The options as typed on the command line, checked; raises :class:`InvalidOption`."""
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
    )


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
