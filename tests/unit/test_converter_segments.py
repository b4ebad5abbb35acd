"""The pure part of segment-parallel MP3: which outputs qualify, the plan, the encoder's argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from converter_job import segments
from converter_job.convert import ffmpeg_argv
from converter_job.probe import Window
from converter_job.spec import Output

SPAN = Window(2.5, 62.5, 60.0)


@pytest.mark.parametrize(
    ("output", "rate", "expected"),
    [
        (Output(), 44100, True),
        (Output(quality=2), 48000, True),
        (Output(bitrate="128k"), 32000, True),
        (Output(sampleRate=44100), 22050, True),  # the output's rate counts, not the source's
        (Output(), 22050, False),
        (Output(sampleRate=24000), 48000, False),
        (Output(bitrate="100k"), 44100, False),  # no MPEG-1 Layer III bitrate
        (Output(format="m4a"), 44100, False),
        (Output(), None, False),
    ],
)
def test_supported_outputs(output: Output, rate: int | None, expected: bool) -> None:
    assert segments.supported(output, rate) is expected


@pytest.mark.parametrize("count", [2, 3, 4, 7])
def test_plan_tiles_the_span_in_whole_frames(count: int) -> None:
    rate = 44100
    plan = segments.plan(SPAN, rate, count)

    assert [s.index for s in plan] == list(range(count)) and {s.count for s in plan} == {count}
    firsts = [round(s.start * rate / 1152) + s.skip_frames for s in plan]
    assert firsts[0] == 0 and plan[0].skip_frames == 0
    for segment, first, following in zip(plan, firsts, firsts[1:], strict=False):
        assert segment.start * rate / 1152 == pytest.approx(round(segment.start * rate / 1152), abs=1e-6)
        assert first + (segment.frames or 0) == following  # contiguous, no frame twice
        assert segment.duration is not None
        encoded = segment.duration * rate / 1152
        assert encoded == pytest.approx(
            segment.skip_frames + (segment.frames or 0) + segments.LOOKAHEAD_FRAMES
        )
    assert all(s.skip_frames == segments.OVERLAP_FRAMES for s in plan[1:])
    assert plan[-1].duration is None and plan[-1].frames is None
    assert firsts[-1] < SPAN.expected * rate / 1152 - segments.OVERLAP_FRAMES  # type: ignore[operator]


def test_plan_is_one_segment_when_the_span_is_unknown_or_short() -> None:
    whole = [segments.Segment(0, 1, 0.0, None, 0, None)]
    assert segments.plan(Window(0.0, None, None), 44100, 4) == whole
    assert segments.plan(SPAN, 44100, 1) == whole
    assert len(segments.plan(Window(0.0, None, 0.5), 44100, 4)) == 1  # 19 frames: one segment
    assert len(segments.plan(Window(0.0, None, 1.0), 44100, 4)) == 3  # 38 frames, at least 10 each


def test_encode_argv_seeks_into_the_span_and_encodes_like_the_single_pass() -> None:
    output = Output(bitrate="192k", sampleRate=48000)
    first, middle, last = segments.plan(SPAN, 48000, 3)
    single = ffmpeg_argv("ffmpeg", Path("in.mp4"), Path("out.mp3"), output, SPAN, source_rate=44100)

    argv = segments.encode_argv("ffmpeg", Path("in.mp4"), Path("p.mp3"), output, SPAN, middle, 44100)

    assert argv[argv.index("-ss") + 1] == f"{SPAN.start + middle.start:.6f}"
    assert argv[argv.index("-t") + 1] == f"{middle.duration:.6f}" and "-to" not in argv
    assert argv.index("-ss") < argv.index("-i")
    options = argv[argv.index("-c:a") : argv.index("-id3v2_version")]
    assert options == single[single.index("-c:a") : single.index("-id3v2_version")]
    assert argv[argv.index("-id3v2_version") : argv.index("-id3v2_version") + 2] == ["-id3v2_version", "0"]
    assert argv[-3:] == ["-f", "mp3", "p.mp3"]
    tail = segments.encode_argv("ffmpeg", Path("in.mp4"), Path("p.mp3"), output, SPAN, last, 44100)
    assert tail[tail.index("-to") + 1] == "62.5" and "-t" not in tail
    head = segments.encode_argv("ffmpeg", Path("in.mp4"), Path("p.mp3"), output, SPAN, first, 44100)
    assert head[head.index("-ss") + 1] == "2.500000"


@pytest.mark.parametrize(
    ("rate", "source_rate", "step"), [(48000, 44100, 5), (44100, 48000, 49), (32000, 48000, 1)]
)
def test_resampled_encodes_start_on_whole_source_samples(rate: int, source_rate: int, step: int) -> None:
    assert segments.grid(rate, source_rate) == step
    assert segments.grid(rate, rate) == segments.grid(rate, None) == 1

    plan = segments.plan(SPAN, rate, 4, source_rate=source_rate)

    assert len(plan) == 4
    for segment in plan:
        first = round(segment.start * rate / 1152)
        assert first % step == 0 and (first * 1152 * source_rate) % rate == 0
        assert segment.skip_frames % step == 0 and segment.skip_frames >= segments.OVERLAP_FRAMES * (
            segment.index > 0
        )
