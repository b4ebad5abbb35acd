"""The ``mp4mp3`` commands. Each one resolves where to talk (session.py), does its calls (api.py,
convert.py) and shows the result (display.py); every failure leaves as a sentence and an exit code."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer

from mp4mp3_cli import display
from mp4mp3_cli.api import Stopped
from mp4mp3_cli.config import Session
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
from mp4mp3_cli.options import InvalidOption, output_options
from mp4mp3_cli.session import Invocation, require_session

HELP = """\
Convert MP4 videos to MP3 audio with the mp4mp3 service.

\b
  mp4mp3 signup --email me@example.com     # once
  mp4mp3 login                             # a token for the next minutes
  mp4mp3 convert holiday.mp4 --bitrate 192k

\b
Exit codes: 0 ok, 1 job failed, 2 usage, 3 not logged in, 4 server unreachable,
5 local file problem, 6 refused by the server, 7 no such job,
8 server error, 9 bug in mp4mp3, 130 interrupted. See docs/cli.md.
"""

app = typer.Typer(
    name="mp4mp3",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # errors are sentences, never tracebacks
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ApiOption = Annotated[
    str | None,
    typer.Option(
        "--api",
        metavar="URL",
        show_default=False,
        help="The mp4mp3 API (gateway). Env MP4MP3_API; default: the URL of the last login, "
        "else http://localhost:8080.",
    ),
]
AuthApiOption = Annotated[
    str | None,
    typer.Option(
        "--auth-api",
        metavar="URL",
        show_default=False,
        help="The auth service, for signup. Env MP4MP3_AUTH_API; default: the stored one, else --api.",
    ),
]
ConfigDirOption = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        metavar="DIR",
        show_default=False,
        help="Where logins are kept. Env MP4MP3_CONFIG_DIR; default: the user's config folder.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, for scripts.")]
EmailOption = Annotated[
    str | None,
    typer.Option(
        "--email", "-e", metavar="EMAIL", show_default=False, help="Your email (asked if not given)."
    ),
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from stdin's first line. Or set MP4MP3_PASSWORD; else it is asked.",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(fn: F) -> F:
    """Run a command: a CliError becomes its message (or JSON) and exit code, Ctrl-C exits 130,
    anything unexpected a one-line report with code 9 (MP4MP3_DEBUG=1 shows the traceback)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        as_json = bool(kwargs.get("as_json"))
        try:
            code = fn(*args, **kwargs)
        except CliError as exc:
            display.show_error(exc, as_json)
            raise typer.Exit(int(exc.code)) from None
        except (KeyboardInterrupt, click.exceptions.Abort):
            if os.environ.get("MP4MP3_DEBUG"):
                raise
            display.show_error(CliError(ExitCode.INTERRUPTED, "Interrupted."), as_json)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except (click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:
            if os.environ.get("MP4MP3_DEBUG"):
                raise
            bug = CliError(
                ExitCode.INTERNAL,
                f"mp4mp3 failed unexpectedly ({type(exc).__name__}: {exc}). Please report this; "
                "MP4MP3_DEBUG=1 shows the details.",
            )
            display.show_error(bug, as_json)
            raise typer.Exit(int(ExitCode.INTERNAL)) from None
        if code:
            raise typer.Exit(int(code))

    return run  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"mp4mp3 {metadata.version('mp4mp3')}")
        except metadata.PackageNotFoundError:
            typer.echo("mp4mp3 (not installed)")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Convert MP4 videos to MP3 audio with the mp4mp3 service."""


# -- accounts -------------------------------------------------------------------------------------


@app.command()
@handles_errors
def signup(
    email: EmailOption = None,
    password_stdin: PasswordStdinOption = False,
    api: ApiOption = None,
    auth_api: AuthApiOption = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an account (at the auth service), then log in with it."""
    inv = Invocation.resolve(api, auth_api, config_dir)
    email, password = _credentials(inv, email, password_stdin, confirm=True)
    with inv.client(logged_in=False) as client:
        user = client.signup(inv.auth_url, email, password)
    try:
        session = _log_in(inv, email, password)
    except CliError as exc:
        raise CliError(
            exc.code, f"The account {email} was created, but logging in failed: {exc.message}"
        ) from None
    if as_json:
        display.emit_json({"id": user.get("id"), **_session_json(inv, session)})
    else:
        display.stdout().print(
            f"Created the account {user.get('email', email)} and logged in to {inv.api_url}."
        )


@app.command()
@handles_errors
def login(
    email: EmailOption = None,
    password_stdin: PasswordStdinOption = False,
    api: ApiOption = None,
    auth_api: AuthApiOption = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Log in and keep the token (readable by you only) for the next commands."""
    inv = Invocation.resolve(api, auth_api, config_dir)
    email, password = _credentials(inv, email, password_stdin, confirm=False)
    session = _log_in(inv, email, password)
    if as_json:
        display.emit_json(_session_json(inv, session))
    else:
        until = session.expires_at.astimezone().strftime("%H:%M")
        display.stdout().print(f"Logged in to {inv.api_url} as {session.email} (until {until}).")


@app.command()
@handles_errors
def logout(
    api: ApiOption = None,
    config_dir: ConfigDirOption = None,
    everywhere: Annotated[bool, typer.Option("--all", help="Forget the logins to every server.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Forget the stored token (of this API, or of all with --all)."""
    inv = Invocation.resolve(api, None, config_dir)
    forgotten = (
        sorted(inv.config.sessions) if everywhere else [u for u in [inv.api_url] if u in inv.config.sessions]
    )
    for url in forgotten:
        del inv.config.sessions[url]
    if forgotten:
        inv.store.save(inv.config)
    if as_json:
        display.emit_json({"loggedOut": forgotten})
    elif forgotten:
        display.stdout().print(f"Logged out of {', '.join(forgotten)}.")
    else:
        display.stdout().print(f"You were not logged in to {inv.api_url}.")


@app.command()
@handles_errors
def whoami(api: ApiOption = None, config_dir: ConfigDirOption = None, as_json: JsonOption = False) -> None:
    """Show who you are logged in as, where, and until when (exit 3 if not, or expired)."""
    inv = Invocation.resolve(api, None, config_dir)
    session = require_session(inv.config, inv.api_url, dt.datetime.now(dt.UTC))
    if as_json:
        display.emit_json(_session_json(inv, session))
    else:
        until = session.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
        display.stdout().print(f"{session.email} at {inv.api_url} (until {until})")


def _credentials(inv: Invocation, email: str | None, password_stdin: bool, confirm: bool) -> tuple[str, str]:
    """Email and password from the options, stdin or env, or asked on the terminal."""
    interactive = sys.stdin.isatty() and not password_stdin
    if not email:
        if not interactive:
            why = "stdin holds the password" if password_stdin else "there is no terminal to ask on"
            raise CliError(ExitCode.USAGE, f"Pass your email with --email ({why}).")
        stored = inv.config.session(inv.api_url)
        email = str(typer.prompt("Email", default=stored.email if stored else None))
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError(ExitCode.USAGE, "--password-stdin: stdin held no password.")
    elif inv.settings.password:
        password = inv.settings.password
    elif interactive:
        password = str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))
    else:
        raise CliError(
            ExitCode.USAGE,
            "Give the password with --password-stdin or MP4MP3_PASSWORD (no terminal to ask on).",
        )
    return email.strip(), password


def _log_in(inv: Invocation, email: str, password: str) -> Session:
    with inv.client(logged_in=False) as client:
        token = client.login(email, password)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    expires_in = token.get("expires_in")
    lifetime = dt.timedelta(seconds=expires_in if isinstance(expires_in, int) and expires_in > 0 else 86400)
    session = Session(email=email, token=str(token["access_token"]), expires_at=now + lifetime)
    inv.config.sessions[inv.api_url] = session
    inv.config.api = inv.api_url
    inv.config.auth_api = inv.auth_url if inv.auth_url != inv.api_url else None
    inv.store.save(inv.config)
    return session


def _session_json(inv: Invocation, session: Session) -> dict[str, Any]:
    return {"api": inv.api_url, "email": session.email, "expiresAt": session.expires_at.isoformat()}


# -- conversions ----------------------------------------------------------------------------------


@app.command()
@handles_errors
def convert(
    videos: Annotated[list[Path], typer.Argument(metavar="VIDEO", help="The videos to convert.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            show_default=False,
            help="The MP3 (one video) or an existing folder; default: beside each video, as NAME.mp3.",
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
    no_email: Annotated[bool, typer.Option("--no-email", help="Do not email me when it is done.")] = False,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="Upload, print the job ids and exit; fetch later with `download`."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing MP3 files.")] = False,
    api: ApiOption = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
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
        )
    except InvalidOption as exc:
        raise CliError(ExitCode.USAGE, str(exc)) from None
    inv = Invocation.resolve(api, None, config_dir)
    planned = plan(videos, output, force, wait=not no_wait)
    inv.client().close()  # fails now, before any upload, if there is no usable login
    settings = inv.settings
    how = Follow(settings.poll_seconds, settings.patience_seconds)
    try:
        outcomes = convert_all(
            inv.client,
            planned,
            options.form_fields(),
            display.reporter(as_json),
            wait=not no_wait,
            how=how,
            parallel=settings.parallel,
        )
    except Interrupted as stopped:
        _show_outcomes(stopped.outcomes, as_json)
        return ExitCode.INTERRUPTED
    _show_outcomes(outcomes, as_json)
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


@app.command()
@handles_errors
def jobs(
    limit: Annotated[int, typer.Option(min=1, max=100, help="Jobs per page.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Jobs to skip (newest first).")] = 0,
    every: Annotated[bool, typer.Option("--all", help="List all your jobs, page after page.")] = False,
    api: ApiOption = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List your jobs, newest first."""
    inv = Invocation.resolve(api, None, config_dir)
    with inv.client() as client:
        page = client.jobs(100 if every else limit, offset)
        items, total = list(page.get("items") or []), int(page.get("total") or 0)
        while every and page.get("next") and len(items) < total:
            page = client.jobs(100, offset + len(items))
            if not page.get("items"):
                break
            items.extend(page["items"])
    if as_json:
        display.emit_json({"items": items, "total": total, "offset": offset})
        return
    out = display.stdout()
    if not items:
        out.print(
            "No jobs yet: `mp4mp3 convert VIDEO.mp4` starts one." if total == 0 else "No jobs on this page."
        )
        return
    out.print(display.jobs_table(items))
    shown_to = offset + len(items)
    if shown_to < total:
        out.print(f"{offset + 1}-{shown_to} of {total}; more with --offset {shown_to} or --all.", style="dim")


@app.command()
@handles_errors
def status(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id (cj-...).")],
    api: ApiOption = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one job: phase, progress, message, times, options."""
    inv = Invocation.resolve(api, None, config_dir)
    with inv.client() as client:
        job = client.job(job_id)
    if as_json:
        display.emit_json(job)
    else:
        display.stdout().print(display.job_details(job))


@app.command()
@handles_errors
def download(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id (cj-...).")],
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
    api: ApiOption = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> ExitCode:
    """Download a job's MP3 (streamed, with a progress bar)."""
    inv = Invocation.resolve(api, None, config_dir)
    stop = threading.Event()
    reporter = display.reporter(as_json)
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
    if as_json:
        display.emit_json({"job": job_id, "mp3": str(path.resolve()), "mp3Bytes": size})
    else:
        display.stdout().print(f"{path.resolve()} ({display.human_bytes(size)})", markup=False)
    return ExitCode.OK


@app.command()
@handles_errors
def cancel(
    job_ids: Annotated[list[str], typer.Argument(metavar="ID", help="The jobs to cancel.")],
    api: ApiOption = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> ExitCode:
    """Cancel jobs and remove them, their videos and MP3s."""
    inv = Invocation.resolve(api, None, config_dir)
    results: list[dict[str, Any]] = []
    code = ExitCode.OK
    with inv.client() as client:
        for job_id in job_ids:
            try:
                client.cancel(job_id)
            except CliError as exc:
                if exc.code in (ExitCode.NOT_LOGGED_IN, ExitCode.UNREACHABLE):
                    raise  # no point trying the others
                results.append({"id": job_id, "cancelled": False, "error": exc.as_json()})
                code = code or exc.code
                if not as_json:
                    display.stderr().print(f"Error: {job_id}: {exc.message}", markup=False, style="red")
            else:
                results.append({"id": job_id, "cancelled": True})
                if not as_json:
                    display.stdout().print(f"Cancelled {job_id}; its video and MP3 are removed.")
    if as_json:
        display.emit_json({"results": results})
    return code
