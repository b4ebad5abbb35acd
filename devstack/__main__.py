"""mp4mp3-devstack: start, inspect and stop the devstack (``python -m devstack --help``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from devstack.process import StartError
from devstack.stack import Stack

app = typer.Typer(help="The whole mp4mp3 system on one machine, on loopback.", no_args_is_help=True)
Names = Annotated[list[str] | None, typer.Argument(help="servers (default: all)")]


@app.command()
def up(names: Names = None) -> None:
    """Start (idempotently) and health-check the servers, then print where they are."""
    stack = Stack()
    print(f"devstack state: {stack.cfg.state}")
    try:
        stack.up(names, echo=True)
    except StartError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    print()
    for what, url in stack.urls().items():
        print(f"  {what:<24} {url}")
    print(f"\n  env for your shell: . {stack.cfg.env_file}")


@app.command()
def down(names: Names = None) -> None:
    """Stop what `up` started (only processes whose PIDs the devstack recorded)."""
    Stack().down(names, echo=True)


@app.command()
def status() -> None:
    """Which servers run."""
    for name, running in Stack().status().items():
        print(f"  {name:<24} {'running' if running else 'stopped'}")


@app.command()
def env() -> None:
    """Print the shell exports of the running devstack."""
    for key, value in sorted(Stack().env().items()):
        print(f"export {key}={value!r}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
