"""What ffprobe says and what it means for a conversion: no audio, trims, the MP3's own length."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mutagen.id3 import ID3

from common import exit_codes
from converter_job.errors import BadInput, ConversionFailure
from converter_job.probe import MediaInfo, check_output, media_info, probe, read_output, require_audio, window
from converter_job.spec import Trim

AV = MediaInfo("mov,mp4,m4a,3gp,3g2,mj2", 5.0, 1, 5.0, "aac", 44100, 1)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("media")
    lavfi = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    video = ["-i", "testsrc=size=160x120:rate=10"]
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    subprocess.run(
        [*lavfi, *video, *sine, "-t", "3", "-c:v", "libx264", "-c:a", "aac", str(folder / "av.mp4")],
        check=True,
    )
    subprocess.run([*lavfi, *video, "-t", "2", "-c:v", "libx264", str(folder / "silent.mp4")], check=True)
    (folder / "notes.mp4").write_text("these are not the frames you are looking for")
    yield folder


def test_probe_reads_the_audio_track(media: Path) -> None:
    info = probe("ffprobe", media / "av.mp4", 120)
    assert info.audio_streams == 1 and info.audio_codec == "aac" and info.sample_rate == 44100
    assert info.audio_seconds == pytest.approx(3.0, abs=0.05)


def test_a_video_without_audio_is_bad_input_with_a_clear_sentence(media: Path) -> None:
    info = probe("ffprobe", media / "silent.mp4", 120)
    with pytest.raises(BadInput) as caught:
        require_audio(info)
    assert caught.value.reason == "NoAudioStream"
    assert caught.value.message == "The video has no audio track to convert."
    assert caught.value.exit_code == exit_codes.BAD_INPUT


def test_a_file_that_is_not_media_is_bad_input(media: Path) -> None:
    with pytest.raises(BadInput) as caught:
        probe("ffprobe", media / "notes.mp4", 120)
    assert caught.value.reason == "NotAVideo"


def test_a_probe_over_its_time_fails_the_attempt_without_calling_the_video_bad(media: Path) -> None:
    with pytest.raises(ConversionFailure) as caught:
        probe("ffprobe", media / "av.mp4", 0.001)  # no ffprobe starts, let alone reads, in 1 ms
    assert not isinstance(caught.value, BadInput)  # retried: a loaded node may do better
    assert caught.value.reason == "ProbeTimedOut"
    assert caught.value.message == "Reading the video's headers took too long."
    assert caught.value.exit_code != exit_codes.BAD_INPUT


def test_media_info_falls_back_to_the_containers_duration() -> None:
    report = {"format": {"format_name": "mp3", "duration": "5.041633"}, "streams": [{"codec_type": "audio"}]}
    assert media_info(report).audio_seconds == pytest.approx(5.041633)
    assert media_info({"format": {}, "streams": []}).audio_streams == 0


def test_trim_window_is_clipped_to_the_audio() -> None:
    assert window(AV, None) == window(AV, Trim()) == (window(AV, Trim(start=0.0)))
    assert window(AV, None).expected == 5.0
    assert window(AV, Trim(start=1.0, end=3.5)).expected == pytest.approx(2.5)
    assert window(AV, Trim(start=1.0, end=60)).expected == pytest.approx(4.0)
    with pytest.raises(BadInput, match=r"lasts only 5\.0 s") as caught:
        window(AV, Trim(start=7.0))
    assert caught.value.reason == "TrimOutOfRange"


def test_output_must_be_audio_of_the_expected_length() -> None:
    mp3 = MediaInfo("mp3", 5.04, 1, 5.04)
    assert check_output(mp3, 5.0, tolerance=0.5) == 5.04
    with pytest.raises(ConversionFailure) as empty:  # e.g. a header-only MP3 from a piped moov-at-end MP4
        check_output(MediaInfo("mp3", 0.0, 1, 0.0), 5.0, tolerance=0.5)
    assert empty.value.reason == "EmptyOutput" and empty.value.exit_code == exit_codes.FAILED
    with pytest.raises(ConversionFailure, match=r"lasts 2\.00 s"):
        check_output(MediaInfo("mp3", 2.0, 1, 2.0), 5.0, tolerance=0.5)


@pytest.mark.parametrize(
    ("fmt", "encode"),
    [
        ("mp3", ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"]),
        ("mp3", ["-c:a", "libmp3lame", "-q:a", "2", "-ac", "1", "-ar", "22050", "-f", "mp3"]),  # VBR
        ("m4a", ["-c:a", "aac", "-f", "ipod"]),
        ("m4a", ["-c:a", "copy", "-f", "ipod"]),  # the source's AAC, copied
        ("opus", ["-c:a", "libopus", "-f", "opus"]),
        ("flac", ["-c:a", "flac", "-f", "flac"]),
    ],
)
def test_the_output_is_read_without_ffprobe_and_agrees_with_it(
    media: Path, tmp_path: Path, fmt: str, encode: list[str]
) -> None:
    out = tmp_path / f"out.{fmt}"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(media / "av.mp4"), "-vn", *encode, str(out)], check=True
    )

    made, seen = read_output(out, fmt), probe("ffprobe", out, 120)

    assert (made.audio_streams, made.audio_codec) == (1, seen.audio_codec)
    assert made.audio_seconds == pytest.approx(seen.audio_seconds, abs=0.05)
    assert check_output(made, 3.0, tolerance=0.5) == made.audio_seconds


def test_an_output_without_audio_of_its_format_is_empty(media: Path, tmp_path: Path) -> None:
    header_only = tmp_path / "header-only.mp3"  # what ffmpeg writes from a piped moov-at-end MP4
    ID3().save(header_only)
    flac = tmp_path / "out.flac"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(media / "av.mp4"), "-vn", str(flac)], check=True
    )
    empty = [
        read_output(header_only, "mp3"),
        read_output(media / "silent.mp4", "m4a"),  # an MP4 with a video track only
        read_output(media / "notes.mp4", "m4a"),
        read_output(flac, "opus"),  # audio, but not the format asked for
        read_output(flac, "mp3"),
        read_output(tmp_path / "missing.mp3", "mp3"),
    ]

    assert [info.audio_streams for info in empty] == [0] * len(empty)
    for info in empty:
        with pytest.raises(ConversionFailure, match=r"The conversion produced no audio\.") as caught:
            check_output(info, 3.0, tolerance=0.5)
        assert caught.value.reason == "EmptyOutput"
