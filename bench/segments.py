"""Segment-parallel MP3 (converter_job.segments) against the single pass, on one long input: the
plain MP3 every job makes (192k CBR at the source's rate), encoded by one ffmpeg, then by K = 2
and K = 4 ffmpeg processes running side by side on this machine, each a contiguous part of the
audio, and joined into one file. Each contender is ``python -m bench.segments SRC DST K`` (K = 1:
the single pass, convert.py's own argv), timed whole by bench.measure: wall, and the CPU of the
process tree (the encodes and the join); the runner reports the join's own wall and CPU.

``python -m bench --only segments`` runs this section alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bench import stats
from bench.inputs import Input, video_input, warm
from bench.measure import MB, Usage, measure
from bench.report import Section, Table, Target
from converter_job import mp3frames, probe, segments
from converter_job.convert import Extras, ffmpeg_argv
from converter_job.spec import Output

FULL_INPUTS = [video_input(3600, 240)]
SMOKE_INPUTS = [video_input(3, 240)]
COUNTS = {"single": 1, "K=2": 2, "K=4": 4}
BASELINE = "single"
TARGET = 0.6  # K=2's wall against the single pass's, on 2 cores
OUTPUT = Output()  # the MP3 every job makes
PROBE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Run:
    input: str
    round: int
    contender: str
    usage: Usage
    encode_wall: float
    join_wall: float
    join_cpu: float
    size: int
    samples: int


def section(smoke: bool = False, console: Console | None = None, rounds: int | None = None) -> Section:
    console = console or Console()
    inputs = SMOKE_INPUTS if smoke else FULL_INPUTS
    rounds = rounds or 1  # an hour of audio per contender: one round is minutes already
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-segments-") as tmp:
        for item in inputs:
            warm(item.video)
            for r in range(1, rounds + 1):
                for name in COUNTS:
                    run = _once(name, item, r, Path(tmp))
                    runs.append(run)
                    console.print(
                        f"  segments {item.label} round {r}/{rounds} {name:<6} wall {run.usage.wall:7.2f} s  "
                        f"cpu {run.usage.cpu:7.2f} s  join {run.join_wall:5.2f} s  {run.size / MB:6.2f} MB"
                    )
    return _section(inputs, runs, rounds)


def main(argv: list[str] | None = None) -> int:
    """One contender: the single pass (K = 1) or K segment encodes side by side, then the join;
    prints the encodes' wall, the join's wall and CPU seconds and the samples the MP3 decodes to,
    as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.segments")
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("count", type=int)
    args = parser.parse_args(argv)
    info = probe.probe("ffprobe", args.src, PROBE_TIMEOUT)
    span = probe.window(info, None)
    started = time.perf_counter()
    if args.count == 1:
        argv_ = ffmpeg_argv("ffmpeg", args.src, args.dst, OUTPUT, span, Extras(), info.sample_rate)
        subprocess.run(argv_, check=True, stdout=subprocess.DEVNULL)
        encode = time.perf_counter() - started
        print(
            json.dumps(
                {"encode_wall": encode, "join_wall": 0.0, "join_cpu": 0.0, "samples": _samples(args.dst)}
            )
        )
        return 0
    rate = info.sample_rate or 0
    if not segments.supported(OUTPUT, rate):
        raise SystemExit(f"segments do not support this input's rate ({rate} Hz)")
    parts = [
        (s, args.dst.with_suffix(f".part{s.index}.mp3"))
        for s in segments.plan(span, rate, args.count, source_rate=rate)
    ]
    encodes = [
        subprocess.Popen(segments.encode_argv("ffmpeg", args.src, path, OUTPUT, span, s, rate))
        for s, path in parts
    ]
    if any(p.wait() != 0 for p in encodes):
        raise SystemExit("a segment's encode failed")
    encode = time.perf_counter() - started
    cpu, started = _cpu(), time.perf_counter()
    joined = segments.join(parts, args.dst)
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    for _, path in parts:
        path.unlink()
    print(json.dumps({"encode_wall": encode, "join_wall": wall, "join_cpu": cpu, "samples": joined.samples}))
    return 0


def _once(name: str, item: Input, round_: int, tmp: Path) -> Run:
    out, log = tmp / f"{name}.mp3", tmp / f"{name}.out"
    argv = [sys.executable, "-m", "bench.segments", str(item.video), str(out), str(COUNTS[name])]
    try:
        usage = measure(argv, log=log)
        report = json.loads(log.read_text().strip().splitlines()[-1])
        size = out.stat().st_size
    finally:
        out.unlink(missing_ok=True)
    return Run(
        item.label,
        round_,
        name,
        usage,
        report["encode_wall"],
        report["join_wall"],
        report["join_cpu"],
        size,
        report["samples"],
    )


def _samples(path: Path) -> int:
    """Samples an MP3 decodes to, from its Xing/LAME header frame."""
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    start = mp3frames.id3v2_size(head)
    if start + 4096 > len(head):
        with path.open("rb") as fh:
            fh.seek(start)
            head, start = fh.read(4096), 0
    header = mp3frames.Header.read(head, start)
    tag = mp3frames.read_tag(head, start, header) if header else None
    if tag is None or tag.frames is None:
        raise SystemExit(f"{path} has no Xing/LAME header")
    return tag.frames * mp3frames.SAMPLES_PER_FRAME - tag.delay - tag.padding


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _section(inputs: list[Input], runs: list[Run], rounds: int) -> Section:
    medians = {
        item.label: {
            name: _summary(
                [r for r in runs if r.input == item.label and r.contender == name],
                [r for r in runs if r.input == item.label and r.contender == BASELINE],
            )
            for name in COUNTS
        }
        for item in inputs
    }
    label = inputs[0].label
    rows = [[i, name, *(medians[i][name][k] for k in _COLUMNS)] for i in medians for name in COUNTS]
    return Section(
        name="segments",
        parameters={
            "inputs": {
                i.label: {"seconds": i.seconds, "video": i.size, "file": i.video.name} for i in inputs
            },
            "rounds": rounds,
            "output": OUTPUT.model_dump(by_alias=True, exclude_defaults=True) or "192k CBR MP3",
            "overlap_frames": segments.OVERLAP_FRAMES,
            "lookahead_frames": segments.LOOKAHEAD_FRAMES,
        },
        results={
            "medians": medians,
            "runs": [
                {
                    "input": r.input,
                    "round": r.round,
                    "contender": r.contender,
                    "wall": round(r.usage.wall, 3),
                    "cpu": round(r.usage.cpu, 3),
                    "encode_wall": round(r.encode_wall, 3),
                    "join_wall": round(r.join_wall, 3),
                    "join_cpu": round(r.join_cpu, 3),
                    "bytes": r.size,
                    "samples": r.samples,
                }
                for r in runs
            ],
        },
        targets=[
            Target(
                name="segments: K=2 wall / single-pass wall",
                measured=_number(medians[label]["K=2"]["wall_vs_single"]),
                comparison="<=",
                limit=TARGET,
                unit="x",
                detail=f"{label}, two encodes side by side plus the join, on this machine's cores",
            )
        ],
        tables=[
            Table(
                f"Single pass against K segment encodes side by side plus the join (median of {rounds})",
                ["input", "contender", *_COLUMNS.values()],
                rows,
            )
        ],
        notes=[
            "Each contender is one Python process (python -m bench.segments SRC DST K): probe, then one "
            "ffmpeg (K=1, convert.py's argv) or K ffmpeg segment encodes at once and the join "
            "(converter_job.segments); CPU is the whole tree's. GridFS and pods are left out.",
            "'encode wall' is the encodes' alone (all K side by side), from the runner; with other work "
            "on the machine the K encodes share whatever cores it leaves: CPU / wall of the encodes says "
            "how many they got.",
            "'same samples' compares the joined MP3's decoded length (its LAME header) with the single "
            "pass's: the join must not add or lose a sample.",
        ],
    )


_COLUMNS = {
    "wall": "wall s",
    "cpu": "CPU s",
    "wall_vs_single": "wall / single",
    "cpu_vs_single": "CPU / single",
    "encode_wall": "encode wall s",
    "join_wall": "join wall s",
    "join_cpu": "join CPU s",
    "mb": "file MB",
    "same_samples": "same samples",
}


def _summary(mine: list[Run], single: list[Run]) -> dict[str, float | str | None]:
    usages, base = [r.usage for r in mine], [r.usage for r in single]
    return {
        "wall": stats.rounded(stats.median([u.wall for u in usages])),
        "cpu": stats.rounded(stats.median([u.cpu for u in usages])),
        "wall_vs_single": stats.rounded(stats.paired_ratio([u.wall for u in usages], [u.wall for u in base])),
        "cpu_vs_single": stats.rounded(stats.paired_ratio([u.cpu for u in usages], [u.cpu for u in base])),
        "encode_wall": stats.rounded(stats.median([r.encode_wall for r in mine])),
        "join_wall": stats.rounded(stats.median([r.join_wall for r in mine])),
        "join_cpu": stats.rounded(stats.median([r.join_cpu for r in mine])),
        "mb": stats.rounded(stats.median([r.size / MB for r in mine]), 2),
        "same_samples": "yes" if [r.samples for r in mine] == [r.samples for r in single] else "no",
    }


def _number(value: float | str | None) -> float | None:
    return value if isinstance(value, float) else None


if __name__ == "__main__":
    sys.exit(main())
