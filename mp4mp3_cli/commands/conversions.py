"""Conversion commands: convert (upload, follow, download) and download (one job's MP3)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from mp4mp3_cli import display, progress
from mp4mp3_cli.api import Stopped
from mp4mp3_cli.commands.running import Call, JobIdArgument, command
from mp4mp3_cli.convert import (
    Follow,
    Interrupted,
    Outcome,
    check_writable,
    convert_all,
    exit_code,
    failure,
    follow,
    plan,
)
from mp4mp3_cli.errors import CliError, ExitCode
from mp4mp3_cli.filenames import attachment_name
from mp4mp3_cli.options import AudioOptions, InvalidOption, output_options


@command()
def convert(
    call: Call,
    videos: Annotated[list[Path], typer.Argument(metavar="VIDEO", help="The videos to convert.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            show_default=False,
            help="The MP3 (one video) or an existing folder; default: beside each video, as NAME.mp3 "
            "(.m4a, .opus, .flac with --format).",
        ),
    ] = None,
    bitrate: Annotated[
        str | None, typer.Option(help="Constant bitrate: 64k 96k 128k 160k 192k 224k 256k 320k.")
    ] = None,
    quality: Annotated[
        int | None, typer.Option(min=0, max=9, help="Variable bitrate quality: 0 (best) to 9 (smallest).")
    ] = None,
    channels: Annotated[
        int | None, typer.Option(help="1 (mono) or 2 (stereo); default: the video's.")
    ] = None,
    sample_rate: Annotated[
        int | None, typer.Option(help="22050, 32000, 44100 or 48000 Hz; default: the video's.")
    ] = None,
    trim_start: Annotated[
        str | None, typer.Option(metavar="TIME", help="Start at this time: seconds or [h:]mm:ss.")
    ] = None,
    trim_end: Annotated[str | None, typer.Option(metavar="TIME", help="End at this time.")] = None,
    engine: Annotated[str | None, typer.Option(hidden=True, help="ffmpeg (default) or moviepy.")] = None,
    audio_format: Annotated[
        str | None,
        typer.Option("--format", help="mp3 (default), m4a (AAC; copied when the video's is), opus, flac."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title tag; default: the video's name.")] = None,
    artist: Annotated[str | None, typer.Option(help="Artist tag.")] = None,
    album: Annotated[str | None, typer.Option(help="Album tag.")] = None,
    year: Annotated[int | None, typer.Option(help="Year tag.")] = None,
    comment: Annotated[str | None, typer.Option(help="Comment tag.")] = None,
    cover_art: Annotated[
        str | None,
        typer.Option(
            metavar="auto|none|TIME", help="Cover art from the video: auto, none (default), or a time."
        ),
    ] = None,
    chapters: Annotated[
        bool | None,
        typer.Option("--chapters/--no-chapters", help="Keep the video's chapters (default: yes)."),
    ] = None,
    loudness: Annotated[
        str | None, typer.Option(metavar="LUFS|on", help="Normalise loudness to this target (on: -16).")
    ] = None,
    trim_silence: Annotated[
        bool, typer.Option("--trim-silence", help="Cut the silence at both ends.")
    ] = False,
    no_email: Annotated[bool, typer.Option("--no-email", help="Do not email me when it is done.")] = False,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="Upload, print the job ids and exit; fetch later with `download`."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing MP3 files.")] = False,
) -> ExitCode:
    """Upload videos, follow their conversion and download the MP3s, with a progress bar each."""
    try:
        options = output_options(
            bitrate=bitrate,
            quality=quality,
            channels=channels,
            sample_rate=sample_rate,
            trim_start=trim_start,
            trim_end=trim_end,
            engine=engine,
            notify_email=not no_email,
            audio=AudioOptions(
                format=audio_format,
                title=title,
                artist=artist,
                album=album,
                year=year,
                comment=comment,
                cover_art=cover_art,
                chapters=chapters,
                loudness=loudness,
                trim_silence=trim_silence,
            ),
        )
    except InvalidOption as exc:
        raise CliError(ExitCode.USAGE, str(exc)) from None
    inv = call.inv
    planned = plan(videos, output, force, wait=not no_wait, extension=options.extension)
    inv.client().close()  # fails now, before any upload, if there is no usable login
    settings = inv.settings
    how = Follow(settings.poll_seconds, settings.patience_seconds)
    try:
        outcomes = convert_all(
            inv.client,
            planned,
            options.form_fields(),
            progress.reporter(call.as_json),
            wait=not no_wait,
            how=how,
            parallel=settings.parallel,
        )
    except Interrupted as stopped:
        _show_outcomes(stopped.outcomes, call.as_json)
        return ExitCode.INTERRUPTED
    _show_outcomes(outcomes, call.as_json)
    return exit_code(outcomes)


def _show_outcomes(outcomes: list[Outcome], as_json: bool) -> None:
    if as_json:
        display.emit_json({"results": [o.as_json() for o in outcomes]})
        return
    out, err = display.stdout(), display.stderr()
    for o in outcomes:
        job = o.job or {}
        if o.error is None and o.mp3_bytes is not None and o.output is not None:
            facts = [display.human_bytes(o.mp3_bytes)]
            if job.get("audioSeconds") is not None:
                facts.append(f"{job['audioSeconds']:.1f} s of audio")
            if job.get("duration"):
                facts.append(f"converted in {job['duration']}")
            out.print(f"{o.video.name} -> {o.output.resolve()} ({', '.join(facts)})", markup=False)
        elif o.error is None:
            out.print(
                f"{o.video.name} -> job {o.job_id} ({job.get('phase', 'Pending')}). Follow it with "
                f"`mp4mp3 status {o.job_id}`, fetch the MP3 with `mp4mp3 download {o.job_id} --wait`.",
                markup=False,
            )
        else:
            message = f"{o.video.name}: {o.error.message}"
            if o.job_id and o.error.code != ExitCode.JOB_FAILED:
                message += f" Job {o.job_id} goes on: `mp4mp3 download {o.job_id} --wait` fetches it later."
            err.print(f"Error: {message}", markup=False, style="red")


@command()
def download(
    call: Call,
    job_id: JobIdArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            show_default=False,
            help="The file to write, or a folder; default: the server's name for it, here.",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait for the job to finish first.")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing file.")] = False,
) -> ExitCode:
    """Download a job's MP3 (streamed, with a progress bar)."""
    inv = call.inv
    stop = threading.Event()
    reporter = progress.reporter(call.as_json)
    bar = reporter.file(job_id)

    def destination(resp: Any) -> Path:
        name = attachment_name(resp.headers.get("content-disposition"), f"{job_id}.mp3")
        path = (output / name if output.is_dir() else output) if output is not None else Path(name)
        check_writable(path, force)
        return path

    try:
        with inv.client() as client:
            if wait:
                how = Follow(inv.settings.poll_seconds, inv.settings.patience_seconds)
                job = follow(client, job_id, bar.following, stop, how)
                if job.get("phase") != "Succeeded":
                    raise failure(job)
            path, size = client.download(job_id, destination, bar.downloading, bar.advance, stop)
        bar.done(f"{path} ({display.human_bytes(size)})")
    except CliError as exc:
        bar.failed(exc.message)
        raise
    except (KeyboardInterrupt, Stopped):
        stop.set()
        bar.failed("interrupted")
        raise KeyboardInterrupt from None
    finally:
        reporter.close()
    if call.as_json:
        display.emit_json({"job": job_id, "mp3": str(path.resolve()), "mp3Bytes": size})
    else:
        display.stdout().print(f"{path.resolve()} ({display.human_bytes(size)})", markup=False)
    return ExitCode.OK
