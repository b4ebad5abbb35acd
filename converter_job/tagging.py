"""Tags: what the audio file says about itself. ffmpeg writes most of it during the encode (ID3v2.4
text frames, CHAP/CTOC, APIC; MP4 atoms and chapters; Vorbis comments); mutagen adds after it only
what ffmpeg 5.1 cannot write (measured):
- MP3: a real COMM frame (ffmpeg writes ``comment`` as TXXX:comment, which players do not show);
- Opus: the cover (ffmpeg's Ogg muxer refuses pictures): a METADATA_BLOCK_PICTURE comment;
- FLAC: chapters (ffmpeg's FLAC muxer drops them) as CHAPTERnnn / CHAPTERnnnNAME comments.
Its writers are imported only for those (probe.read_output loads the format's reader to check the
encoded file). A long video's MP3 is joined from parts (segments.py) after ffmpeg ran: ``id3`` then
writes all of it, as ffmpeg would have.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from converter_job.cover import COVER_PIXELS
from converter_job.probe import Chapter, MediaInfo, Window
from converter_job.spec import Spec

# the video's own tags worth keeping (ffmpeg's generic names); technical ones (encoder,
# major_brand, creation_time, ...) are left behind
CARRIED = ("title", "artist", "album", "album_artist", "date", "genre", "composer", "comment", "copyright")


def metadata(spec: Spec, info: MediaInfo) -> dict[str, str]:
    """The tags to write: the user's, else the video's own, and a title from the upload's name."""
    tags = {key: info.tags[key] for key in CARRIED if info.tags.get(key)}
    given = spec.output.tags
    asked = {
        "title": given.title,
        "artist": given.artist,
        "album": given.album,
        "date": str(given.year) if given.year is not None else None,
        "comment": given.comment,
    }
    tags.update({key: value for key, value in asked.items() if value})
    tags.setdefault("title", spec.title)
    # the video's other tags are emptied, which removes them: "-map_metadata -1" would also drop
    # the chapters' titles (measured with ffmpeg 5.1)
    return {**{key: "" for key in info.tags if key not in tags}, **tags}


def metadata_options(tags: dict[str, str]) -> list[str]:
    options = []
    for key, value in tags.items():
        options += ["-metadata", f"{key}={value}"]
    return options


def needs_mutagen(fmt: str, tags: dict[str, str], cover: Path | None, chapters: Sequence[Chapter]) -> bool:
    return (
        (fmt == "mp3" and bool(tags.get("comment")))
        or (fmt == "opus" and cover is not None)
        or (fmt == "flac" and bool(chapters))
    )


def chapters_in(info: MediaInfo, span: Window) -> list[Chapter]:
    """The video's chapters as times in the audio: shifted by the window's start, clipped to it."""
    end = span.start + span.expected if span.expected is not None else None
    kept = []
    for chapter in info.chapters:
        start, stop = (
            max(chapter.start, span.start),
            min(chapter.end, end) if end is not None else chapter.end,
        )
        if stop > start:
            kept.append(Chapter(start - span.start, stop - span.start, chapter.title))
    return kept


def finish(
    path: Path, fmt: str, tags: dict[str, str], cover: Path | None, chapters: Sequence[Chapter]
) -> None:
    """Write what ffmpeg could not (see the module's docstring) into the encoded file."""
    if fmt == "mp3" and tags.get("comment"):
        _mp3_comment(path, tags["comment"])
    if fmt == "opus" and cover is not None:
        _opus_cover(path, cover)
    if fmt == "flac" and chapters:
        _flac_chapters(path, chapters)


# ffmpeg's generic tag names -> the ID3v2.4 text frames its MP3 muxer writes for them
ID3_FRAMES = {
    "title": "TIT2",
    "artist": "TPE1",
    "album": "TALB",
    "album_artist": "TPE2",
    "date": "TDRC",
    "genre": "TCON",
    "composer": "TCOM",
    "copyright": "TCOP",
}


def id3(path: Path, tags: dict[str, str], cover: Path | None, chapters: Sequence[Chapter]) -> None:
    """Write the tags, the cover and the chapters into an MP3 that has none (a joined one)."""
    from mutagen import id3 as frames

    tag = frames.ID3()
    for key, value in tags.items():
        if value and key in ID3_FRAMES:
            tag.add(getattr(frames, ID3_FRAMES[key])(encoding=3, text=[value]))
    if tags.get("comment"):
        tag.add(frames.COMM(encoding=3, lang="eng", desc="", text=[tags["comment"]]))
    if cover is not None:
        data = cover.read_bytes()
        tag.add(frames.APIC(encoding=3, mime="image/jpeg", type=3, desc="Cover (front)", data=data))
    ids = [f"ch{number}" for number in range(len(chapters))]
    for element, chapter in zip(ids, chapters, strict=True):
        title = frames.TIT2(encoding=3, text=[chapter.title])
        start, end = round(chapter.start * 1000), round(chapter.end * 1000)
        tag.add(frames.CHAP(element_id=element, start_time=start, end_time=end, sub_frames=[title]))
    if ids:
        flags = frames.CTOCFlags.TOP_LEVEL | frames.CTOCFlags.ORDERED
        tag.add(frames.CTOC(element_id="toc", flags=flags, child_element_ids=ids, sub_frames=[]))
    tag.save(path, v2_version=4, v1=0)


def _mp3_comment(path: Path, text: str) -> None:
    from mutagen.id3 import COMM, ID3

    tags = ID3(path)
    tags.delall("TXXX:comment")
    tags.add(COMM(encoding=3, lang="eng", desc="", text=[text]))
    tags.save(path, v2_version=4, v1=0)


def _opus_cover(path: Path, cover: Path) -> None:
    from mutagen.flac import Picture
    from mutagen.oggopus import OggOpus

    picture = Picture()
    picture.type, picture.mime, picture.desc = 3, "image/jpeg", "Cover (front)"  # 3: front cover
    picture.data = cover.read_bytes()
    picture.width = picture.height = COVER_PIXELS
    picture.depth = 24
    audio = OggOpus(path)
    audio["metadata_block_picture"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio.save()


def _flac_chapters(path: Path, chapters: Sequence[Chapter]) -> None:
    from mutagen.flac import FLAC

    audio = FLAC(path)
    for number, chapter in enumerate(chapters, 1):
        audio[f"CHAPTER{number:03d}"] = _clock(chapter.start)
        audio[f"CHAPTER{number:03d}NAME"] = chapter.title
    audio.save()


def _clock(seconds: float) -> str:
    """12.5 -> '00:00:12.500' (the Vorbis chapter extension's time format)."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
