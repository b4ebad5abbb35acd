"""Conversion, side by side: converter_job's conversion step vs the floor, the seed's way and LAME.

Contenders, run interleaved (A B C D A B C D ...) on each input so a noisy moment of the shared
machine hits all of them alike:
- converter: ``python -m bench.converter_step`` (converter_job's probe/convert/check, minus GridFS);
- ffmpeg:    plain ``ffmpeg -i IN -vn -c:a libmp3lame -b:a 192k OUT``, the floor;
- moviepy:   the seed's ``VideoFileClip(IN).audio.write_audiofile(OUT)`` (at 192k, like the rest);
- lame:      ``lame -b 192 IN.wav OUT`` from the audio decoded beforehand: LAME's encoding alone.
``python -m bench --only conversion`` runs this section alone.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bench import stats
from bench.inputs import Input, video_input, warm
from bench.measure import MB, Usage, measure
from bench.report import Chart, Section, Table, Target

BITRATE = "192k"
CPU_TARGET = 1.05  # converter CPU / plain ffmpeg CPU
WALL_TARGET = 1.15  # converter wall / plain ffmpeg wall
RSS_TARGET_MB = 100.0  # converter's whole process tree
FULL_INPUTS = [video_input(60, 720), video_input(60, 1080), video_input(600, 720), video_input(600, 1080)]
SMOKE_INPUTS = [video_input(3, 240)]
INTERPRETER = [sys.executable, "-c", "import converter_job.__main__"]
MOVIEPY_SEED = (
    "import sys; from moviepy import VideoFileClip; "
    f"VideoFileClip(sys.argv[1]).audio.write_audiofile(sys.argv[2], bitrate={BITRATE!r}, logger=None)"
)

Argv = Callable[[Input, Path], list[str]]


@dataclass(frozen=True)
class Contender:
    name: str
    argv: Argv
    what: str


CONTENDERS = [
    Contender(
        "converter",
        lambda i, out: [
            sys.executable,
            "-m",
            "bench.converter_step",
            str(i.video),
            str(out),
            "--bitrate",
            BITRATE,
        ],
        "converter_job's conversion step in its own Python process (probe, ffmpeg with -progress, check)",
    ),
    Contender(
        "ffmpeg",
        lambda i, out: plain_ffmpeg(i.video, out),
        "plain ffmpeg -vn -c:a libmp3lame -b:a 192k: the floor",
    ),
    Contender(
        "moviepy",
        lambda i, out: [sys.executable, "-c", MOVIEPY_SEED, str(i.video), str(out)],
        "MoviePy 2 VideoFileClip(p).audio.write_audiofile(out, bitrate='192k'): the seed's way",
    ),
    Contender(
        "lame",
        lambda i, out: ["lame", "--quiet", "-b", BITRATE.rstrip("k"), str(i.wav), str(out)],
        "lame -b 192 from a WAV decoded beforehand (not timed): LAME's encoding cost alone",
    ),
]


def plain_ffmpeg(src: Path, out: Path) -> list[str]:
    """The floor: what any converter must at least do (LAME is ~95% of it)."""
    return [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-i",
        str(src),
        "-vn",
        "-c:a",
        "libmp3lame",
        "-b:a",
        BITRATE,
        str(out),
    ]


@dataclass(frozen=True)
class Run:
    input: str
    round: int
    contender: str
    usage: Usage


def section(smoke: bool = False, console: Console | None = None, rounds: int | None = None) -> Section:
    console = console or Console()
    inputs = SMOKE_INPUTS if smoke else FULL_INPUTS
    rounds = rounds or (1 if smoke else 5)
    audio = _prepare(inputs, console)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-conversion-") as tmp:
        _warm_up(inputs[0], Path(tmp))
        interpreter = [measure(INTERPRETER) for _ in range(3)]
        for item in inputs:
            warm(item.video)
            for r in range(1, rounds + 1):
                for contender in CONTENDERS:
                    usage = _once(contender, item, Path(tmp))
                    runs.append(Run(item.label, r, contender.name, usage))
                    console.print(
                        f"  conversion {item.label} round {r}/{rounds} {contender.name:<9} "
                        f"wall {usage.wall:6.2f} s  cpu {usage.cpu:6.2f} s  tree rss "
                        f"{usage.peak_tree_rss / MB:6.1f} MB"
                    )
    return _section(inputs, audio, runs, rounds, interpreter)


def _prepare(inputs: list[Input], console: Console) -> dict[str, float]:
    """Generate (or find cached) every input first, so no contender pays for it."""
    audio = {}
    for item in inputs:
        console.print(f"  conversion input {item.label}: {item.video.name} (+ WAV {item.wav.name})")
        audio[item.label] = item.audio_seconds
    return audio


def _warm_up(item: Input, tmp: Path) -> None:
    """One untimed run of each: binaries, Python modules and the input in the page cache."""
    for contender in CONTENDERS:
        _once(contender, item, tmp)


def _once(contender: Contender, item: Input, tmp: Path) -> Usage:
    out = tmp / f"{contender.name}.mp3"
    try:
        return measure(contender.argv(item, out), log=tmp / f"{contender.name}.out")
    finally:
        out.unlink(missing_ok=True)


def _section(
    inputs: list[Input], audio: dict[str, float], runs: list[Run], rounds: int, interpreter: list[Usage]
) -> Section:
    alone = {
        "cpu": stats.rounded(stats.median([u.cpu for u in interpreter])),
        "wall": stats.rounded(stats.median([u.wall for u in interpreter])),
        "peak_tree_rss_mb": stats.rounded(stats.median([u.peak_tree_rss / MB for u in interpreter]), 1),
    }
    per_input: dict[str, dict[str, dict[str, float | None]]] = {}
    for item in inputs:
        mine = [r for r in runs if r.input == item.label]
        base = [r.usage for r in mine if r.contender == "ffmpeg"]
        per_input[item.label] = {
            c.name: _summary([r.usage for r in mine if r.contender == c.name], base, audio[item.label])
            for c in CONTENDERS
        }
    targets = []
    for label, summary in per_input.items():
        conv = summary["converter"]
        targets += [
            Target(
                f"converter CPU ({label})", conv["cpu_vs_ffmpeg"], "<=", CPU_TARGET, "x", "vs plain ffmpeg"
            ),
            Target(f"converter wall ({label})", conv["wall_vs_ffmpeg"], "<=", WALL_TARGET, "x", "vs ffmpeg"),
            Target(f"converter peak RSS ({label})", conv["peak_tree_rss_mb"], "<=", RSS_TARGET_MB, "MB"),
        ]
    labels = list(per_input)
    names = [c.name for c in CONTENDERS]
    rows = [
        [label, name, *(summary[name][k] for k in _COLUMNS)]
        for label, summary in per_input.items()
        for name in names
    ]
    return Section(
        name="conversion",
        parameters={
            "inputs": {
                i.label: {"seconds": i.seconds, "video": i.size, "file": i.video.name} for i in inputs
            },
            "rounds": rounds,
            "bitrate": BITRATE,
            "contenders": {c.name: c.what for c in CONTENDERS},
        },
        results={
            "converter_interpreter_alone": alone,
            "medians": per_input,
            "runs": [
                {
                    "input": r.input,
                    "round": r.round,
                    "contender": r.contender,
                    "wall": round(r.usage.wall, 4),
                    "cpu": round(r.usage.cpu, 4),
                    "peak_tree_rss_mb": round(r.usage.peak_tree_rss / MB, 1),
                }
                for r in runs
            ],
        },
        targets=targets,
        tables=[
            Table(f"Medians of {rounds} interleaved rounds", ["input", "contender", *_COLUMNS.values()], rows)
        ],
        charts=[
            Chart(
                "CPU seconds relative to plain ffmpeg",
                "CPU / ffmpeg's",
                labels,
                {n: [per_input[label][n]["cpu_vs_ffmpeg"] for label in labels] for n in names},
                limit=CPU_TARGET,
            ),
            Chart(
                "peak RSS of the process tree",
                "MB",
                labels,
                {n: [per_input[label][n]["peak_tree_rss_mb"] for label in labels] for n in names},
                limit=RSS_TARGET_MB,
            ),
            Chart(
                "speed (audio seconds per wall second)",
                "x realtime",
                labels,
                {n: [per_input[label][n]["x_realtime"] for label in labels] for n in names},
            ),
        ],
        notes=[f"{c.name}: {c.what}." for c in CONTENDERS]
        + [
            f"The converter's interpreter alone (python -c 'import converter_job.__main__', the Job's "
            f"imports: pymongo above all): {alone['cpu']} CPU-s, {alone['wall']} s wall, "
            f"{alone['peak_tree_rss_mb']} MB RSS; the rest of its cost is one ffprobe of the video, "
            "ffmpeg, and mutagen reading the MP3.",
            "Ratios are medians of per-round ratios (each round runs the contenders back to back); "
            "CPU is user+system of the whole process tree (wait4); peak tree RSS is sampled every "
            "20 ms and sums every process of the tree.",
        ],
    )


_COLUMNS = {
    "wall": "wall s",
    "cpu": "CPU s",
    "peak_tree_rss_mb": "tree RSS MB",
    "x_realtime": "x realtime",
    "wall_vs_ffmpeg": "wall / ffmpeg",
    "cpu_vs_ffmpeg": "CPU / ffmpeg",
    "rss_vs_ffmpeg": "RSS / ffmpeg",
}


def _summary(usages: list[Usage], base: list[Usage], audio_seconds: float) -> dict[str, float | None]:
    wall = stats.median([u.wall for u in usages])
    return {
        "wall": stats.rounded(wall),
        "cpu": stats.rounded(stats.median([u.cpu for u in usages])),
        "peak_tree_rss_mb": stats.rounded(stats.median([u.peak_tree_rss / MB for u in usages]), 1),
        "x_realtime": stats.rounded(audio_seconds / wall if wall > 0 else float("nan"), 1),
        "wall_vs_ffmpeg": stats.rounded(stats.paired_ratio([u.wall for u in usages], [u.wall for u in base])),
        "cpu_vs_ffmpeg": stats.rounded(stats.paired_ratio([u.cpu for u in usages], [u.cpu for u in base])),
        "rss_vs_ffmpeg": stats.rounded(
            stats.paired_ratio([u.peak_tree_rss for u in usages], [u.peak_tree_rss for u in base])
        ),
    }
