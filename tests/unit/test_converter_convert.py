"""The conversion engines on real files: ffmpeg (default) and MoviePy, options and progress."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from converter_job.convert import convert, ffmpeg_argv
from converter_job.errors import ConversionFailure
from converter_job.probe import Window, probe
from converter_job.spec import Output, Spec, Trim

WHOLE = Window(0.0, None, 4.0)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("convert") / "av.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-ac",
            "2",
            str(path),
        ],
        check=True,
    )
    yield path


def test_argv_maps_the_output_options() -> None:
    argv = ffmpeg_argv("ffmpeg", Path("in.mp4"), Path("out.mp3"), Output(channels=1, sampleRate=22050), WHOLE)
    assert argv[:1] == ["ffmpeg"]
    joined = " ".join(argv)
    assert "-i in.mp4 -map 0:a:0 -vn" in joined and "-c:a libmp3lame -b:a 192k" in joined  # CBR by default
    assert "-ac 1" in joined and "-ar 22050" in joined
    assert argv[-5:] == ["-progress", "pipe:1", "-f", "mp3", "out.mp3"]
    vbr = " ".join(ffmpeg_argv("ffmpeg", Path("i"), Path("o"), Output(quality=2), Window(1.5, 4.0, 2.5)))
    assert "-q:a 2" in vbr and "-b:a" not in vbr
    assert vbr.index("-ss 1.5 -to 4 -i i") > 0  # input options: positions in the source


def test_mp3_file_name_follows_the_upload() -> None:
    def name(filename: str) -> str:
        return Spec.model_validate(
            {"source": {"videoId": "x", "filename": filename}, "owner": {"userId": "1"}}
        ).mp3_filename

    assert [name(n) for n in ("talk.mp4", "a.b.mp4", "noext", ".hidden", "dir/x.MP4")] == [
        "talk.mp3",
        "a.b.mp3",
        "noext.mp3",
        ".hidden.mp3",
        "x.mp3",
    ]


@pytest.mark.parametrize("engine", ["ffmpeg", "moviepy"])
def test_engines_convert_with_the_asked_options_and_report_progress(
    engine: str, video: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.mp3"
    seen: list[float] = []
    output = Output(bitrate="128k", channels=1, sampleRate=22050, trim=Trim(start=1.0, end=3.0))
    convert(engine, "ffmpeg", video, out, output, Window(1.0, 3.0, 2.0), seen.append, 48000)  # type: ignore[arg-type]
    info = probe("ffprobe", out, 120)
    assert info.format_name == "mp3" and info.channels == 1 and info.sample_rate == 22050
    assert info.audio_seconds == pytest.approx(2.0, abs=0.1)
    assert seen and max(seen) == pytest.approx(2.0, abs=0.1)


def test_encoder_failure_is_worth_a_retry_and_says_what_ffmpeg_said(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(ConversionFailure) as caught:
        convert("ffmpeg", "ffmpeg", missing, tmp_path / "o.mp3", Output(), WHOLE, lambda s: None)
    assert caught.value.reason == "EncoderFailed"
    assert "No such file" in caught.value.message
