"""What the converter adds to plain audio, as pure decisions: the ffmpeg arguments per format,
when the source's AAC is copied, loudness and silence read from ffmpeg's log, tags and cover."""

from __future__ import annotations

from pathlib import Path

import pytest

from converter_job.analysis import parse_loudness, parse_silences, trimmed_window
from converter_job.convert import Extras, copy_refusal, ffmpeg_argv
from converter_job.cover import cover_second
from converter_job.errors import BadInput
from converter_job.probe import Chapter, MediaInfo, Window
from converter_job.spec import Output, Spec
from converter_job.tagging import chapters_in, metadata

WHOLE = Window(0.0, None, 60.0)
AAC_VIDEO = MediaInfo("mov,mp4", 60.0, 1, 60.0, "aac", 44100, 2, video_streams=1)


def argv(output: Output, extras: Extras | None = None, span: Window = WHOLE) -> str:
    return " ".join(ffmpeg_argv("ffmpeg", Path("in.mp4"), Path("out"), output, span, extras, 44100))


def spec(**output: object) -> Spec:
    return Spec.model_validate(
        {"source": {"videoId": "x", "filename": "Lecture é.mp4"}, "owner": {"userId": "1"}, "output": output}
    )


def test_each_format_has_its_encoder_muxer_and_file_name() -> None:
    assert "-c:a libmp3lame -b:a 192k" in argv(Output()) and "-id3v2_version 4" in argv(Output())
    assert "-c:a aac -b:a 192k" in argv(Output(format="m4a")) and "-f ipod out" in argv(Output(format="m4a"))
    opus = argv(Output(format="opus", bitrate="96k"))
    assert "-c:a libopus -b:a 96k" in opus and "-ar 48000" in opus and opus.endswith("-f opus out")
    flac = argv(Output(format="flac"))
    assert "-c:a flac" in flac and "-b:a" not in flac and flac.endswith("-f flac out")
    assert [spec(format=f).mp3_filename for f in ("mp3", "m4a", "opus", "flac")] == [
        "Lecture é.mp3",
        "Lecture é.m4a",
        "Lecture é.opus",
        "Lecture é.flac",
    ]


def test_tags_cover_chapters_and_loudness_become_ffmpeg_options() -> None:
    extras = Extras(tags={"title": "Vidéo", "artist": "Sø"}, cover=Path("c.jpg"), loudnorm="loudnorm=I=-16")
    line = argv(Output(chapters=False), extras)
    assert "-i in.mp4 -i c.jpg -map 0:a:0 -map 1:v:0" in line and "-disposition:v:0 attached_pic" in line
    assert "-metadata title=Vidéo -metadata artist=Sø" in line and "-map_metadata" not in line
    assert "-map_chapters -1" in line
    assert "-af loudnorm=I=-16" in line and "-ar 44100" in line  # loudnorm runs at 192 kHz: set back
    assert "-ar" not in argv(Output(), Extras(loudnorm="volume=3.5dB"))
    assert "-map_chapters" not in argv(Output())  # chapters come from the video by default
    assert "1:v:0" not in argv(Output(format="opus"), Extras(cover=Path("c.jpg")))  # mutagen adds it


def test_aac_is_copied_into_m4a_only_when_nothing_changes_the_samples() -> None:
    m4a = Output(format="m4a")
    assert copy_refusal(m4a, WHOLE, AAC_VIDEO) is None
    assert "-c:a copy" in argv(m4a, Extras(copy=True)) and "-b:a" not in argv(m4a, Extras(copy=True))
    assert "loudness" in (copy_refusal(Output(format="m4a", loudness=-16), WHOLE, AAC_VIDEO) or "")
    assert "trimming" in (copy_refusal(m4a, Window(5.0, None, 55.0), AAC_VIDEO) or "")
    assert "trimming" in (copy_refusal(Output(format="m4a", trimSilence=True), WHOLE, AAC_VIDEO) or "")
    assert "bitrate" in (copy_refusal(Output(format="m4a", bitrate="128k"), WHOLE, AAC_VIDEO) or "")
    mp3_audio = MediaInfo("mov,mp4", 60.0, 1, 60.0, "mp3", 44100, 2)
    assert "not AAC" in (copy_refusal(m4a, WHOLE, mp3_audio) or "")


EBUR128_LOG = """[Parsed_ebur128_1 @ 0x5645a96b4700] Summary:

  Integrated loudness:
    I:         -27.6 LUFS
    Threshold: -37.6 LUFS

  Loudness range:
    LRA:        18.1 LU
    Threshold: -47.6 LUFS
    LRA low:   -38.6 LUFS
    LRA high:  -20.5 LUFS

  True peak:
    Peak:       -4.5 dBFS
"""


def test_loudness_is_read_from_the_first_pass_and_applied_linearly() -> None:
    measured = parse_loudness(EBUR128_LOG)
    assert measured is not None
    assert (measured.input_i, measured.input_thresh, measured.input_lra, measured.input_tp) == (
        -27.6,
        -37.6,
        18.1,
        -4.5,
    )
    # +11.6 dB would lift the true peak to 7.1 dBTP: loudnorm, which compresses, with the measurement
    second = measured.second_pass(-16)
    assert "measured_I=-27.60" in second and "measured_thresh=-37.60" in second and "linear=true" in second
    # room under the ceiling: a plain gain, as loudnorm's linear mode would apply, without its 192 kHz
    assert measured.second_pass(-30) == "volume=-2.40dB"
    silent = EBUR128_LOG.replace("-27.6 LUFS", "-70.0 LUFS").replace("-4.5 dBFS", "-inf dBFS")
    assert parse_loudness(silent) is None  # nothing to normalise


def test_silence_at_both_ends_moves_the_window() -> None:
    log = "\n".join(
        f"[silencedetect @ 0x1] {line}"
        for line in (
            "silence_start: 0",
            "silence_end: 1.5 | silence_duration: 1.5",
            "silence_start: 20.2",
            "silence_end: 21 | silence_duration: 0.8",
            "silence_start: 55.25",
        )
    )
    silences = parse_silences(log)
    assert silences == [(0.0, 1.5), (20.2, 21.0), (55.25, None)]
    assert trimmed_window(Window(10.0, None, 60.0), silences) == Window(11.5, 65.25, 53.75)
    assert trimmed_window(WHOLE, [(3.0, 4.0)]) == WHOLE  # a pause inside stays
    assert trimmed_window(WHOLE, [(0.0, None)]) == WHOLE  # all silent: nothing would be left


def test_tags_are_the_users_then_the_videos_then_the_file_name() -> None:
    video = MediaInfo("mov", 60.0, 1, 60.0, tags={"artist": "From video", "album": "A", "encoder": "Lavf"})
    tags = metadata(spec(tags={"artist": "Ærøskøbing", "year": 2024, "comment": "ünï"}), video)
    assert tags == {
        "encoder": "",  # emptied: removed
        "artist": "Ærøskøbing",
        "album": "A",
        "date": "2024",
        "comment": "ünï",
        "title": "Lecture é",
    }
    assert metadata(spec(tags={"title": "Given"}), video)["title"] == "Given"


def test_chapters_follow_the_window() -> None:
    info = MediaInfo(
        "mov", 60.0, 1, 60.0, chapters=(Chapter(0, 10, "a"), Chapter(10, 40, "b"), Chapter(40, 60, "c"))
    )
    assert chapters_in(info, Window(15.0, 45.0, 30.0)) == [Chapter(0, 25, "b"), Chapter(25, 30, "c")]


def test_cover_second_auto_avoids_the_start_and_refuses_a_time_outside_the_video() -> None:
    assert cover_second(AAC_VIDEO, None) == pytest.approx(6.0)
    assert cover_second(MediaInfo("mov", 3600.0, 1, 3600.0, video_streams=1), None) == 60.0
    assert cover_second(MediaInfo("mov", 60.0, 1, 60.0), None) is None  # audio only: no cover
    assert cover_second(AAC_VIDEO, 12.5) == 12.5
    with pytest.raises(BadInput, match=r"lasts 60\.0 s"):
        cover_second(AAC_VIDEO, 75)
