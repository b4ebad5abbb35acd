"""The audio formats a conversion can make: name, file extension, media type and the words a user
reads, shared by the gateway (download), the converter (encoder), the notifier (email) and the CLI.

MP3 is the default and the project's name; the others are conveniences.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_FORMAT = "mp3"


@dataclass(frozen=True)
class AudioFormat:
    name: str  # the API's and the CRD's value
    extension: str  # of the downloaded file, without the dot
    media_type: str  # Content-Type of the download
    label: str  # how a sentence names the file: "Your MP3 is ready"
    article: str  # "an" MP3, "a" FLAC file

    @property
    def a_label(self) -> str:
        """ "is now an MP3" """
        return f"{self.article} {self.label}"


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat("mp3", "mp3", "audio/mpeg", "MP3", "an"),
        AudioFormat("m4a", "m4a", "audio/mp4", "M4A", "an"),
        AudioFormat("opus", "opus", "audio/ogg", "Opus file", "an"),
        AudioFormat("flac", "flac", "audio/flac", "FLAC file", "a"),
    )
}
FORMAT_NAMES = tuple(FORMATS)


def audio_format(name: str | None) -> AudioFormat:
    """The format named ``name``; MP3 when unset or unknown (an older job, a newer writer)."""
    return FORMATS.get(name or DEFAULT_FORMAT, FORMATS[DEFAULT_FORMAT])


def audio_filename(video_name: str, fmt: str | None = None) -> str:
    """``holiday.mp4`` -> ``holiday.mp3`` (or ``.m4a``, ``.opus``, ``.flac``): the video's stem with
    the format's extension; ``audio.<ext>`` when the stem is empty."""
    stem = video_name.rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    return f"{stem or 'audio'}.{audio_format(fmt).extension}"


def title_of(video_name: str) -> str:
    """The default title tag: the upload's name without its extension."""
    return audio_filename(video_name).removesuffix(".mp3")


def format_of_file(filename: str) -> AudioFormat:
    """The format of a stored audio file, from the extension the converter gave its name."""
    extension = filename.rpartition(".")[2].lower()
    return next((f for f in FORMATS.values() if f.extension == extension), FORMATS[DEFAULT_FORMAT])
