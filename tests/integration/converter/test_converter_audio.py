"""The converter's audio, read back with ffprobe and mutagen: tags (non-ASCII), cover art, chapters,
loudness, silence trimming, each format, and the AAC copy path. The converter runs as a host
process of this checkout against the devstack's FerretDB, exactly as its Job's container runs it.
Few conversions, each checking several facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.oggopus import OggOpus

from tests.support.converter_harness import (
    ConverterRun,
    audio_md5,
    ffprobe,
    integrated_loudness,
)

pytestmark = pytest.mark.devstack

VIDEO = "Lecture é.mp4"


def test_mp3_is_tagged_with_cover_chapters_normalised_loudness_and_no_silent_ends(
    converter: ConverterRun, media: Path
) -> None:
    tags = {"artist": "Zoë Ærøskøbing", "album": "Cours d'été", "year": 2024, "comment": "Übung 章"}
    output = {"tags": tags, "coverArt": "auto", "loudness": -16, "trimSilence": True}
    made = converter(media / VIDEO, output)

    assert made.path.name == "Lecture é.mp3"
    assert made.report["format"] == "mp3" and made.report["copied"] is False
    # the quiet source's loudness as measured independently (the silent ends fall under the gate)
    assert made.report["inputLoudness"] == pytest.approx(integrated_loudness(media / VIDEO), abs=0.5)
    assert made.report["inputLoudness"] < -25
    assert made.report["audioSeconds"] == pytest.approx(6.0, abs=0.15)  # 1 s of silence gone at each end
    assert integrated_loudness(made.path) == pytest.approx(-16, abs=1.0)
    id3 = ID3(made.path)
    assert id3.version == (2, 4, 0)
    assert str(id3["TIT2"]) == "Vidéo du cours"  # the video's own title (none given)
    assert str(id3["TPE1"]) == "Zoë Ærøskøbing" and str(id3["TALB"]) == "Cours d'été"
    assert str(id3["TDRC"]) == "2024"
    assert [c.text for c in id3.getall("COMM")] == [["Übung 章"]]
    (apic,) = id3.getall("APIC")
    assert apic.mime == "image/jpeg" and apic.type == 3  # front cover
    probe = ffprobe(made.path)
    (picture,) = [s for s in probe["streams"] if s["codec_type"] == "video"]
    assert (picture["width"], picture["height"]) == (500, 500)
    (toc,) = id3.getall("CTOC")
    chapters = sorted(id3.getall("CHAP"), key=lambda c: c.start_time)
    assert toc.child_element_ids == [c.element_id for c in chapters]
    # the source's chapters (0-3 s, 3-8 s), shifted by the 1 s of silence trimmed at the start
    assert [(c.start_time, c.end_time, str(c.sub_frames["TIT2"])) for c in chapters] == [
        (0, pytest.approx(2000, abs=60), "Intro é"),
        (pytest.approx(2000, abs=60), pytest.approx(6000, abs=150), "Hauptteil 章"),
    ]


def test_opus_and_flac_decode_with_their_codec_duration_tags_cover_and_chapters(
    converter: ConverterRun, media: Path
) -> None:
    opus = converter(media / VIDEO, {"format": "opus", "coverArt": "2", "tags": {"title": "Tïtle"}})
    probe = ffprobe(opus.path)
    stream, picture = probe["streams"]  # ffprobe shows the cover as an attached picture
    assert (stream["codec_name"], stream["sample_rate"]) == ("opus", "48000")
    assert (picture["width"], picture["height"], picture["disposition"]["attached_pic"]) == (500, 500, 1)
    assert opus.path.name == "Lecture é.opus"
    assert float(probe["format"]["duration"]) == pytest.approx(8.0, abs=0.1)
    tags = OggOpus(opus.path)
    assert tags["title"] == ["Tïtle"] and tags["artist"] == ["Ünïversité"]  # given, and the video's own
    assert len(tags["metadata_block_picture"]) == 1
    assert len(probe["chapters"]) == 2

    flac = converter(media / VIDEO, {"format": "flac", "chapters": True})
    probe = ffprobe(flac.path)
    (stream,) = probe["streams"]
    assert (flac.path.name, stream["codec_name"]) == ("Lecture é.flac", "flac")
    assert float(probe["format"]["duration"]) == pytest.approx(8.0, abs=0.1)
    comments = FLAC(flac.path)
    assert comments["CHAPTER002"] == ["00:00:03.000"] and comments["CHAPTER002NAME"] == ["Hauptteil 章"]
    assert [c["tags"]["title"] for c in probe["chapters"]] == ["Intro é", "Hauptteil 章"]

    bare = converter(media / VIDEO, {"chapters": False})
    assert ffprobe(bare.path)["chapters"] == [] and ID3(bare.path).getall("CHAP") == []


def test_m4a_of_an_aac_video_is_copied_unchanged_and_a_bitrate_forces_an_encode(
    converter: ConverterRun, media: Path
) -> None:
    video = media / "long.mp4"  # 2 minutes
    copied = converter(video, {"format": "m4a"})
    encoded = converter(video, {"format": "m4a", "bitrate": "128k"})

    assert copied.report["copied"] is True and "note" not in copied.report
    assert audio_md5(copied.path) == audio_md5(video)  # the very packets of the source
    assert ffprobe(copied.path)["streams"][0]["codec_name"] == "aac"
    assert copied.report["audioSeconds"] == pytest.approx(120, abs=0.1)
    assert encoded.report["copied"] is False
    assert encoded.report["note"] == "a bitrate, channel count or sample rate was asked for"
    assert audio_md5(encoded.path) != audio_md5(video)
    # what the copy saves in time is measured by `make bench` (audio: m4a-copy against m4a)
