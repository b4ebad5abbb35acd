"""Segment-parallel MP3 against the single pass, on real ffmpeg and files only (no servers): an MP4
whose AAC holds a sweep, a steady tone and noise across every join, a span with a start and an
end, K = 2, 3 and 4 segments, CBR 192k and VBR -q:a 2, 44.1 and 48 kHz, and 44.1 kHz resampled
to 48 kHz (K = 3).

Thresholds, from measurement (ffmpeg 5.1, libmp3lame 3.100; this file's 12 cases), with margin:
- VBR decoded bit-identically to the single pass, joins included (LAME's state converges within
  the overlap, and its VBR frames evidently do not depend on how full the reservoir is);
- CBR, ±50 ms around a join: SNR against the single pass 32.8 to 43.1 dB (floor 25 dB); the two
  encodes quantise differently at a join until their reservoirs agree again, and mid-segment they
  were mostly bit-identical (else 32 to 63 dB), so "not much worse than mid-segment" is checked
  against the source audio instead: there the joined file was within 0.1 dB of the single pass
  at every join (slack 1 dB);
- resampled 44.1 to 48 kHz: VBR bit-identical, CBR 30.9 to 34.0 dB at the joins, when every
  encode starts on a whole source sample (segments.grid); seeking between source samples gave
  21.7 to 29.2 dB;
- the largest sample-to-sample step around a join exceeded the single pass's by at most 0.0026
  of full scale (margin 0.05).
Naive joins fail, each in all four tests: without the overlap, SNR at the joins 7.6 to 10.2 dB;
the segments' frames concatenated as encoded (no re-packing of the reservoir), -28.5 to 6.7 dB
and steps up to 9.4 above the single pass's (clicks); without the look-ahead frames, 18.7 to 20 dB.
ffmpeg's decoder complained about none of them: the SNR, not the log, catches a bad join.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import cast

import pytest
from mutagen.mp3 import MP3, MPEGInfo

from converter_job import segments
from converter_job.convert import Extras, ffmpeg_argv
from converter_job.probe import Window
from converter_job.spec import Output
from tests.support.converter_harness import ffprobe
from tests.support.mp3_joins import Pcm, assert_joins_match, decode, decoder_complaints

SPAN = Window(1.3, 14.7, 13.4)  # a trim with a start and an end
SOURCE_SECONDS = 16
TONES = (
    "0.4*sin(2*PI*(300+40*t)*t)+0.1*(random(0)-0.5)"
    "|0.3*sin(2*PI*440*t)+0.1*sin(2*PI*3000*t)+0.1*(random(1)-0.5)"
)
OUTPUTS = {"cbr": Output(bitrate="192k"), "vbr": Output(quality=2)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segments")


@pytest.fixture(scope="module")
def sources(folder: Path) -> dict[int, Path]:
    made = {}
    for rate in (44100, 48000):
        path = folder / f"source-{rate}.mp4"
        argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
        argv += ["-i", f"testsrc=size=96x64:rate=2:duration={SOURCE_SECONDS}", "-f", "lavfi"]
        argv += ["-i", f"aevalsrc='{TONES}':s={rate}:d={SOURCE_SECONDS}"]
        argv += ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "160k", str(path)]
        subprocess.run(argv, check=True)
        made[rate] = path
    return made


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("mode", ["cbr", "vbr"])
def test_joined_segments_decode_like_the_single_pass(
    folder: Path, sources: dict[int, Path], rate: int, mode: str
) -> None:
    _check_joins(folder, sources[rate], OUTPUTS[mode], rate, rate, (2, 3, 4), _decode_span(sources[rate]))


@pytest.mark.parametrize("mode", ["cbr", "vbr"])
def test_resampled_segments_decode_like_the_single_pass(
    folder: Path, sources: dict[int, Path], mode: str
) -> None:
    output = OUTPUTS[mode].model_copy(update={"sample_rate": 48000})
    _check_joins(folder, sources[44100], output, 44100, 48000, (3,), None)


def test_seeking_into_the_aac_is_sample_accurate_from_the_first_sample(sources: dict[int, Path]) -> None:
    rate = 44100
    original = _decode_span(sources[rate])
    for segment in segments.plan(SPAN, rate, 4)[1:]:
        first = round(segment.start * rate)
        seeked = decode(sources[rate], "-ss", f"{SPAN.start + segment.start:.6f}", "-t", "1")

        assert len(seeked) == rate
        difference = max(
            abs(a - b)
            for a, b in zip(seeked.samples, original.window(first + rate // 2, rate // 2), strict=True)
        )
        assert difference < 1e-4  # float rounding in the AAC decoder (measured 1.6e-5), no priming


def _check_joins(
    folder: Path,
    source: Path,
    output: Output,
    source_rate: int,
    rate: int,
    counts: tuple[int, ...],
    original: Pcm | None,
) -> None:
    """K-segment joins against the single pass (and the source audio, when given at ``rate``)."""
    single = folder / f"single-{rate}-{output.quality}.mp3"
    argv = ffmpeg_argv("ffmpeg", source, single, output, SPAN, Extras(), source_rate)
    subprocess.run(argv, check=True, capture_output=True)
    reference = decode(single)
    assert original is None or len(reference) == len(original)  # the single pass itself is gapless

    for count in counts:
        plan = segments.plan(SPAN, rate, count, source_rate=source_rate)
        assert len(plan) == count
        joined = folder / f"joined-{rate}-{count}.mp3"
        made = segments.join([_encode(folder, source, output, s, source_rate) for s in plan], joined)
        pcm = decode(joined)
        case = f"{source_rate} to {rate} Hz, {output.effective_bitrate or output.quality}, K={count}"

        assert len(pcm) == len(reference) == made.samples, case
        assert decoder_complaints(joined) == "", case
        assert_joins_match(pcm, reference, original, plan, rate, case)
        info = cast(MPEGInfo, MP3(joined).info)  # typed as None in mutagen
        assert info.length == pytest.approx(made.samples / rate, abs=0.001), case
        # ffprobe 5.1: the Xing frame count as duration (delay and padding trimmed only when decoding)
        stream = ffprobe(joined)["streams"][0]
        assert float(stream["duration"]) == pytest.approx(made.frames * 1152 / rate, abs=0.001), case
        assert stream["duration"] == ffprobe(single)["streams"][0]["duration"], case


def _encode(
    folder: Path, source: Path, output: Output, segment: segments.Segment, rate: int
) -> tuple[segments.Segment, Path]:
    path = folder / f"part-{segment.index}.mp3"
    subprocess.run(segments.encode_argv("ffmpeg", source, path, output, SPAN, segment, rate), check=True)
    return segment, path


def _decode_span(source: Path) -> Pcm:
    return decode(source, "-ss", f"{SPAN.start:g}", "-to", f"{SPAN.end:g}")
