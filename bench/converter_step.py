"""``python -m bench.converter_step SRC DST [--output JSON]``: converter_job's conversion step on a
local file (``--output``: a ConversionJob's ``spec.output``, with its cover, loudness, format, ...).

The steps of ``converter_job.run._convert_in`` between the GridFS download and the GridFS upload,
with the same functions, defaults and a progress reporter that reports nowhere: probe the video,
check it has audio, convert (ffmpeg engine, ``-progress`` parsed), read (mutagen) and check the
MP3. Run as its own process that imports what the Job's entry point imports (pymongo included,
though unused here), so its cost counts the interpreter a converter pod pays for too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import converter_job.__main__  # noqa: F401  # the Job's whole import set: the pod's interpreter footprint
from converter_job import plan, probe
from converter_job.convert import convert
from converter_job.errors import ConversionFailure
from converter_job.progress import ThrottledReporter
from converter_job.settings import Settings
from converter_job.spec import Output, Spec


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    ffmpeg, ffprobe = str(defaults["ffmpeg"]), str(defaults["ffprobe"])
    try:
        info = probe.probe(ffprobe, args.src, float(defaults["probe_timeout"]))
        probe.require_audio(info)
        span = probe.window(info, None)
        if args.output is None:
            on_progress = ThrottledReporter(None, span.expected, float(defaults["progress_interval"]))
            output = Output(bitrate=args.bitrate)
            convert(args.engine, ffmpeg, args.src, args.dst, output, span, on_progress, info.sample_rate)
        else:
            output = Output.model_validate(json.loads(args.output))
            span = _with_extras(ffmpeg, args.src, args.dst, json.loads(args.output), info, span, defaults)
        made = probe.read_output(args.dst, output.format)
        probe.check_output(made, span.expected, float(defaults["duration_tolerance"]))
    except ConversionFailure as exc:
        print(f"{exc.reason}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


def _with_extras(
    ffmpeg: str, src: Path, dst: Path, output: dict, info: probe.MediaInfo, span: probe.Window, defaults: dict
) -> probe.Window:
    """The run.py path for an output with extras: plan (first pass, cover), encode, finish."""
    spec = Spec.model_validate(
        {"source": {"videoId": "bench", "filename": src.name}, "owner": {"userId": "bench"}, "output": output}
    )
    planned = plan.plan(ffmpeg, src, dst.parent, spec, info, span, "bench")
    on_progress = ThrottledReporter(None, planned.span.expected, float(defaults["progress_interval"]))
    convert(
        "ffmpeg", ffmpeg, src, dst, spec.output, planned.span, on_progress, info.sample_rate, planned.extras
    )
    plan.finish(dst, spec, info, planned)
    return planned.span


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.converter_step", description=__doc__)
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--bitrate", default="192k")
    parser.add_argument("--engine", choices=("ffmpeg", "moviepy"), default="ffmpeg")
    parser.add_argument("--output", help="a spec.output as JSON: the converter's full path (cover, ...)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
