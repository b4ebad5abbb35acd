"""The audio options, each against plain MP3: what cover art, loudness normalisation and each
format cost on the same input, through converter_job's own path (``bench.converter_step
--output``: probe, first pass, cover, encode, mutagen, check), run interleaved in rounds.

- mp3:          ``{}``: the MP3 every job makes (title tag from the file name): the baseline;
- mp3+cover:    ``coverArt: auto``: one more ffmpeg that seeks and decodes a few frames;
- mp3+loudness: ``loudness: -16``: a first decode through loudnorm, then loudnorm in the encode;
- m4a:          AAC 192k, encoded (a bitrate forces it); m4a-copy: the source's AAC copied;
- opus:         Opus 192k (libopus); flac: lossless.
``python -m bench --only audio`` runs this section alone.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bench import stats
from bench.inputs import Input, video_input, warm
from bench.measure import MB, Usage, measure
from bench.report import Chart, Section, Table

FULL_INPUTS = [video_input(60, 720), video_input(600, 360)]
SMOKE_INPUTS = [video_input(3, 240)]
OUTPUTS: dict[str, dict[str, object]] = {
    "mp3": {},
    "mp3+cover": {"coverArt": "auto"},
    "mp3+loudness": {"loudness": -16},
    "m4a": {"format": "m4a", "bitrate": "192k"},
    "m4a-copy": {"format": "m4a"},
    "opus": {"format": "opus"},
    "flac": {"format": "flac"},
}
BASELINE = "mp3"


@dataclass(frozen=True)
class Run:
    input: str
    round: int
    contender: str
    usage: Usage
    size: int


def section(smoke: bool = False, console: Console | None = None, rounds: int | None = None) -> Section:
    console = console or Console()
    inputs = SMOKE_INPUTS if smoke else FULL_INPUTS
    rounds = rounds or (1 if smoke else 3)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-audio-") as tmp:
        for name in OUTPUTS if not smoke else ():  # untimed: binaries, modules, the input cached
            _once(name, inputs[0], Path(tmp))
        for item in inputs:
            warm(item.video)
            for r in range(1, rounds + 1):
                for name in OUTPUTS:
                    usage, size = _once(name, item, Path(tmp))
                    runs.append(Run(item.label, r, name, usage, size))
                    console.print(
                        f"  audio {item.label} round {r}/{rounds} {name:<13} wall {usage.wall:6.2f} s  "
                        f"cpu {usage.cpu:6.2f} s  {size / MB:6.2f} MB"
                    )
    return _section(inputs, runs, rounds)


def _once(name: str, item: Input, tmp: Path) -> tuple[Usage, int]:
    fmt = str(OUTPUTS[name].get("format", "mp3"))
    out = tmp / f"{name}.{fmt}"
    argv = [sys.executable, "-m", "bench.converter_step", str(item.video), str(out)]
    try:
        usage = measure([*argv, "--output", json.dumps(OUTPUTS[name])], log=tmp / f"{name}.out")
        return usage, out.stat().st_size
    finally:
        out.unlink(missing_ok=True)


def _section(inputs: list[Input], runs: list[Run], rounds: int) -> Section:
    medians: dict[str, dict[str, dict[str, float | None]]] = {}
    for item in inputs:
        mine = [r for r in runs if r.input == item.label]
        base = [r.usage for r in mine if r.contender == BASELINE]
        medians[item.label] = {
            name: _summary([r for r in mine if r.contender == name], base, item.audio_seconds)
            for name in OUTPUTS
        }
    labels, names = list(medians), list(OUTPUTS)
    rows = [[label, name, *(medians[label][name][k] for k in _COLUMNS)] for label in labels for name in names]
    return Section(
        name="audio",
        parameters={
            "inputs": {
                i.label: {"seconds": i.seconds, "video": i.size, "file": i.video.name} for i in inputs
            },
            "rounds": rounds,
            "outputs": OUTPUTS,
        },
        results={
            "medians": medians,
            "runs": [
                {
                    "input": r.input,
                    "round": r.round,
                    "contender": r.contender,
                    "wall": round(r.usage.wall, 4),
                    "cpu": round(r.usage.cpu, 4),
                    "bytes": r.size,
                }
                for r in runs
            ],
        },
        tables=[
            Table(
                f"Medians of {rounds} interleaved rounds, each option against plain MP3",
                ["input", "output", *_COLUMNS.values()],
                rows,
            )
        ],
        charts=[
            Chart(
                "wall time relative to plain MP3",
                "wall / mp3's",
                labels,
                {n: [medians[label][n]["wall_vs_mp3"] for label in labels] for n in names},
                limit=1.0,
                limit_label="plain MP3",
            )
        ],
        notes=[
            "Every contender is converter_job's own path in a fresh Python process (bench.converter_step "
            "--output SPEC): probe, the first pass and the cover when asked, the encode, mutagen, probe "
            "and check; GridFS and status patches left out, as in the conversion section.",
            "Ratios are medians of per-round ratios to the plain MP3 of the same round.",
        ],
    )


_COLUMNS = {
    "wall": "wall s",
    "cpu": "CPU s",
    "x_realtime": "x realtime",
    "wall_vs_mp3": "wall / mp3",
    "cpu_vs_mp3": "CPU / mp3",
    "mb": "file MB",
}


def _summary(mine: list[Run], base: list[Usage], audio_seconds: float) -> dict[str, float | None]:
    usages = [r.usage for r in mine]
    wall = stats.median([u.wall for u in usages])
    return {
        "wall": stats.rounded(wall),
        "cpu": stats.rounded(stats.median([u.cpu for u in usages])),
        "x_realtime": stats.rounded(audio_seconds / wall if wall > 0 else float("nan"), 1),
        "wall_vs_mp3": stats.rounded(stats.paired_ratio([u.wall for u in usages], [u.wall for u in base])),
        "cpu_vs_mp3": stats.rounded(stats.paired_ratio([u.cpu for u in usages], [u.cpu for u in base])),
        "mb": stats.rounded(stats.median([r.size / MB for r in mine]), 2),
    }
