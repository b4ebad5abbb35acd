"""The first pass, run only when loudness or silence trimming is asked for: one decode of the audio
through ``silencedetect`` and/or ``loudnorm`` (EBU R128 measurement), read from ffmpeg's log.

Silence is trimmed by moving the window's ends (``-ss``/``-to`` of the encode), not by a filter:
``areverse``, the usual way to trim the end, holds the whole audio in memory.
"""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from common.logs import kv
from converter_job.errors import ConversionFailure
from converter_job.probe import Window

log = logging.getLogger("converter.analysis")

SILENCE_THRESHOLD = "-50dB"  # quieter than this counts as silence
SILENCE_MIN_SECONDS = 0.5  # shorter pauses are not trimmed
TRUE_PEAK = -1.5  # dBTP, the loudnorm ceiling (EBU R128 / podcast practice)
LOUDNESS_RANGE = 11.0  # LU, loudnorm's default
ANALYSIS_TIMEOUT = 6 * 3600  # seconds; a decode is ~100x realtime, so only a hung ffmpeg hits it
_SILENCE = re.compile(r"silence_(start|end): (-?[0-9.]+)")


@dataclass(frozen=True)
class Loudness:
    """loudnorm's first-pass measurement (the values its second pass takes back)."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float

    def second_pass(self, target: float) -> str:
        """The ``loudnorm`` filter that applies the measurement: linear gain when it can."""
        return (
            f"loudnorm=I={target:g}:TP={TRUE_PEAK:g}:LRA={LOUDNESS_RANGE:g}"
            f":measured_I={self.input_i:.2f}:measured_TP={self.input_tp:.2f}"
            f":measured_LRA={self.input_lra:.2f}:measured_thresh={self.input_thresh:.2f}"
            f":offset={self.target_offset:.2f}:linear=true"
        )


@dataclass(frozen=True)
class Analysis:
    loudness: Loudness | None  # None when not asked for, or the audio is silent
    window: Window  # the span to encode, silence trimmed when asked


def analysis_argv(ffmpeg: str, src: Path, span: Window, loudness: float | None, silence: bool) -> list[str]:
    filters = []
    if silence:
        filters.append(f"silencedetect=noise={SILENCE_THRESHOLD}:d={SILENCE_MIN_SECONDS:g}")
    if loudness is not None:
        filters.append(f"loudnorm=I={loudness:g}:TP={TRUE_PEAK:g}:LRA={LOUDNESS_RANGE:g}:print_format=json")
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
    argv += span_options(span)
    return [*argv, "-i", str(src), "-map", "0:a:0", "-vn", "-af", ",".join(filters), "-f", "null", "-"]


def span_options(span: Window) -> list[str]:
    """``-ss``/``-to`` input options for a window (positions in the source)."""
    options = ["-ss", f"{span.start:g}"] if span.start > 0 else []
    return options + (["-to", f"{span.end:g}"] if span.end is not None else [])


def analyse(ffmpeg: str, src: Path, span: Window, loudness: float | None, silence: bool) -> Analysis:
    argv = analysis_argv(ffmpeg, src, span, loudness, silence)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=ANALYSIS_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConversionFailure("AnalysisTimedOut", "Measuring the audio took too long.") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        log.error(kv(event="analysis.failed", code=done.returncode, error=last))
        raise ConversionFailure(
            "AnalysisFailed", f"Measuring the audio failed (exit {done.returncode}): {last}"
        )
    return Analysis(
        loudness=parse_loudness(done.stderr) if loudness is not None else None,
        window=trimmed_window(span, parse_silences(done.stderr)) if silence else span,
    )


def parse_loudness(log_text: str) -> Loudness | None:
    """loudnorm's JSON block at the end of its log; None for silent audio (nothing to normalise)."""
    start, end = log_text.rfind("{"), log_text.rfind("}")
    if start < 0 or end < start:
        raise ConversionFailure("AnalysisFailed", "The loudness measurement printed no result.")
    report = json.loads(log_text[start : end + 1])
    values = [float(report[k]) for k in ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")]
    if not all(math.isfinite(v) for v in values):
        return None
    return Loudness(*values)


def parse_silences(log_text: str) -> list[tuple[float, float | None]]:
    """(start, end) of each silence silencedetect reported, in seconds from the window's start; the
    last one's end is None when the audio ends silent."""
    silences: list[tuple[float, float | None]] = []
    for kind, value in _SILENCE.findall(log_text):
        if kind == "start":
            silences.append((float(value), None))
        elif silences and silences[-1][1] is None:
            silences[-1] = (silences[-1][0], float(value))
    return silences


def trimmed_window(span: Window, silences: list[tuple[float, float | None]], edge: float = 0.05) -> Window:
    """``span`` without the silence at its start and its end (a silent whole is left as it is)."""
    length = span.expected
    head, tail = 0.0, length
    if silences and silences[0][0] <= edge and silences[0][1] is not None:
        head = silences[0][1]
    if silences:
        last_start, last_end = silences[-1]
        if last_end is None or (length is not None and last_end >= length - edge):
            tail = last_start
    if tail is not None and tail <= head:
        return span
    start = span.start + head
    end = span.start + tail if tail is not None and tail != length else span.end
    expected = (tail - head) if tail is not None else None
    return Window(start, end, expected)
