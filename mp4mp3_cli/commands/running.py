"""What every command shares, written once: the options saying where to talk and how to answer
(--api, --config-dir, --json; --auth-api for the account commands), resolved into an
:class:`~mp4mp3_cli.session.Invocation`, and the way a failure leaves (a sentence on stderr, or
JSON on stdout, and the documented exit code).

A command is a function ``fn(call, <its own options>)`` decorated with :func:`command`; the
decorator appends the shared options to its Typer signature (after its own, as the help lists
them) and hands it a :class:`Call`.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from mp4mp3_cli import display
from mp4mp3_cli.errors import CliError, ExitCode
from mp4mp3_cli.session import Invocation

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
JobIdArgument = Annotated[str, typer.Argument(metavar="ID", help="The job's id (cj-...).")]

CommandBody = Callable[..., ExitCode | None]


@dataclass
class Call:
    """One run of a command: the shared options as given."""

    api: str | None
    auth_api: str | None
    config_dir: Path | None
    as_json: bool

    @functools.cached_property
    def inv(self) -> Invocation:
        """Settings, stored logins and URLs; resolved on first use, so that a command checks its
        own options first (a bad option is reported before a bad config file)."""
        return Invocation.resolve(self.api, self.auth_api, self.config_dir)


def command(*, auth_api: bool = False) -> Callable[[CommandBody], Callable[..., None]]:
    """Make ``fn(call, **own_options)`` a Typer command taking its own options, then --api,
    --auth-api (if asked for), --config-dir and --json."""

    def decorate(fn: CommandBody) -> Callable[..., None]:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]  # all but `call`
        shared = [
            _option("api", ApiOption, None),
            *([_option("auth_api", AuthApiOption, None)] if auth_api else []),
            _option("config_dir", ConfigDirOption, None),
            _option("as_json", JsonOption, False),
        ]

        @functools.wraps(fn)
        def run(**options: Any) -> None:
            call = Call(
                api=options.pop("api"),
                auth_api=options.pop("auth_api", None),
                config_dir=options.pop("config_dir"),
                as_json=bool(options.pop("as_json")),
            )
            finish(lambda: fn(call, **options), call.as_json)

        params = [*own, *shared]
        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]  # what Typer reads
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def finish(body: Callable[[], ExitCode | None], as_json: bool) -> None:
    """Run a command's body: a CliError becomes its message (or JSON) and exit code, Ctrl-C exits
    130, anything unexpected a one-line report with code 9 (MP4MP3_DEBUG=1 shows the traceback)."""
    try:
        code = body()
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
