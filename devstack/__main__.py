"""mp4mp3-devstack: start, inspect and stop the devstack (``python -m devstack --help``)."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from devstack.config import Config
from devstack.images import ImageError, build_all
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


@app.command()
def images(
    load: Annotated[bool, typer.Option(help="import into the node's containerd (it must run)")] = True,
    report: Annotated[bool, typer.Option(help="end with a table of the images' sizes and times")] = True,
) -> None:
    """Build the images from docker/*.Dockerfile (only what changed) and import them into containerd."""
    cfg = Config.from_env()
    started = time.monotonic()
    try:
        built = build_all(cfg, load=load, echo=True, sizes=report)
    except ImageError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    if not report:
        return
    print(f"\n  {'image':<14}{'size':>9}{'build':>9}{'import':>9}  ref")
    for image in built:
        print(
            f"  {image.name:<14}{image.size / 1e6:>7.0f}MB{image.build_seconds:>8.0f}s"
            f"{image.import_seconds:>8.0f}s  {image.ref}"
        )
    print(f"\n  total {time.monotonic() - started:.1f}s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
