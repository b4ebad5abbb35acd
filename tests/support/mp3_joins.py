"""Comparing a joined MP3 (converter_job/segments.py) with the single pass, by decoding both:
the sample counts, the decoder's complaints, and every join's SNR and largest step. Shared by the
converter's segment tests and the operator's end-to-end one; the thresholds are measured
(tests/integration/converter/test_converter_segments.py says how)."""

from __future__ import annotations

import math
import subprocess
from array import array
from dataclasses import dataclass
from pathlib import Path

from converter_job import mp3frames, segments

WINDOW = 0.05  # seconds each side of a join
JOIN_SNR_DB = 25.0
SOURCE_SLACK_DB = 1.0
STEP_MARGIN = 0.05


@dataclass(frozen=True)
class Pcm:
    """Decoded stereo float samples, interleaved."""

    samples: array

    def __len__(self) -> int:
        return len(self.samples) // 2

    def window(self, centre: int, half: int) -> array:
        return self.samples[2 * (centre - half) : 2 * (centre + half)]


def join_samples(plan: list[segments.Segment], rate: int) -> list[int]:
    """Where each join is in the decoded audio (a sample index at ``rate``)."""
    firsts = [round(s.start * rate / 1152) + s.skip_frames for s in plan]  # each segment's first frame
    lag = 576 + mp3frames.DECODER_DELAY  # LAME's delay: frame f's first decoded sample is f*1152 - lag
    return [f * 1152 - lag for f in firsts[1:]]


def assert_joins_match(
    pcm: Pcm, reference: Pcm, original: Pcm | None, plan: list[segments.Segment], rate: int, case: str
) -> None:
    """Around every join, the joined decode is close to the single pass's (and, when the source's
    own decode is given, as close to it as the single pass is), with no click."""
    half = round(WINDOW * rate)
    for at in join_samples(plan, rate):
        mine, single = pcm.window(at, half), reference.window(at, half)
        assert snr(mine, single) >= JOIN_SNR_DB, f"{case}: join at sample {at}"
        assert step(mine) <= step(single) + STEP_MARGIN, f"{case}: click at {at}"
        if original is not None:
            source = original.window(at, half)
            assert snr(mine, source) >= snr(single, source) - SOURCE_SLACK_DB, f"{case}: join at {at}"


def decode(path: Path, *before: str) -> Pcm:
    argv = ["ffmpeg", "-v", "error", *before, "-i", str(path), "-map", "0:a:0"]
    done = subprocess.run([*argv, "-f", "f32le", "-c:a", "pcm_f32le", "-"], capture_output=True, check=True)
    return Pcm(array("f", done.stdout))


def decoder_complaints(path: Path) -> str:
    argv = ["ffmpeg", "-hide_banner", "-v", "error", "-i", str(path), "-f", "null", "-"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stderr


def snr(signal: array, reference: array) -> float:
    noise = sum((a - b) ** 2 for a, b in zip(signal, reference, strict=True))
    power = sum(b * b for b in reference)
    return math.inf if noise == 0 else 10 * math.log10(power / noise)


def step(samples: array) -> float:
    """The largest change from one sample to the next of the same channel."""
    return max(abs(samples[i + 2] - samples[i]) for i in range(len(samples) - 2))
