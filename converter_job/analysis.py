"""The first pass, run only when loudness or silence trimming is asked for: one decode of the audio
through ``silencedetect`` and/or ``ebur128`` (EBU R128: integrated loudness, range, true peak),
read from ffmpeg's log. ``ebur128`` measures what ``loudnorm``'s own first pass does at a sixth of
its CPU (measured on a 60 s input: 0.5 vs 2.9 CPU-s; loudnorm resamples to 192 kHz).

Silence is trimmed by moving the window's ends (``-ss``/``-to`` of the encode), not by a filter:
``areverse``, the usual way to trim the end, holds the whole audio in memory.
"""

from __future__ import annotations

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
_SUMMARY = re.compile(
    r"I:\s+(?P<i>-?[0-9.]+) LUFS\s+Threshold:\s+(?P<thresh>-?[0-9.]+) LUFS.*?"
    r"LRA:\s+(?P<lra>-?[0-9.]+) LU.*?Peak:\s+(?P<tp>-?(?:[0-9.]+|inf)) dBFS",
    re.DOTALL,
)
SILENT_LUFS = -70.0  # ebur128's floor: nothing above the absolute gate


@dataclass(frozen=True)
class Loudness:
    """The first pass's measurement, in the terms loudnorm's second pass takes."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float = 0.0

    def second_pass(self, target: float) -> str:
        """The filter that applies the measurement. When the gain to the target keeps the true
        peak under the ceiling, a plain ``volume`` gain: what loudnorm's linear mode does, without
        its 192 kHz resampling (measured: loudnorm in the encode costs more CPU than LAME).
        Otherwise loudnorm itself, which then compresses dynamically."""
        gain = target - self.input_i
        if self.input_tp + gain <= TRUE_PEAK:
            return f"volume={gain:.2f}dB"
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
        filters.append("ebur128=peak=true:framelog=verbose")  # the summary only, not 10 lines a second
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
    """ebur128's summary at the end of its log; None for silent audio (nothing to normalise)."""
    found = list(_SUMMARY.finditer(log_text))
    if not found:
        raise ConversionFailure("AnalysisFailed", "The loudness measurement printed no result.")
    last = found[-1]
    values = {k: float(v) for k, v in last.groupdict().items()}
    if values["i"] <= SILENT_LUFS or not all(math.isfinite(v) for v in values.values()):
        return None
    return Loudness(values["i"], values["tp"], values["lra"], values["thresh"])


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
