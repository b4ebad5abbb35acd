"""The ``mp4mp3`` command line: the Typer app and its commands, one module per group under
``commands/``. Each command resolves where to talk (session.py), does its calls (api.py,
convert.py) and shows the result (display.py); every failure leaves as a sentence and an exit code
(commands/running.py)."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer

from mp4mp3_cli.commands import accounts, conversions, jobs

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

# in the order `mp4mp3 --help` lists them
COMMANDS = (
    accounts.signup,
    accounts.login,
    accounts.logout,
    accounts.whoami,
    conversions.convert,
    jobs.jobs,
    jobs.status,
    conversions.download,
    jobs.cancel,
)
for _command in COMMANDS:
    app.command()(_command)


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
