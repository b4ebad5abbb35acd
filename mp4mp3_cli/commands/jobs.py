"""Job commands: list your jobs, show one, cancel some."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mp4mp3_cli import display
from mp4mp3_cli.commands.running import Call, JobIdArgument, command
from mp4mp3_cli.errors import CliError, ExitCode


@command()
def jobs(
    call: Call,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Jobs per page.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Jobs to skip (newest first).")] = 0,
    every: Annotated[bool, typer.Option("--all", help="List all your jobs, page after page.")] = False,
) -> None:
    """List your jobs, newest first."""
    with call.inv.client() as client:
        page = client.jobs(100 if every else limit, offset)
        items, total = list(page.get("items") or []), int(page.get("total") or 0)
        while every and page.get("next") and len(items) < total:
            page = client.jobs(100, offset + len(items))
            if not page.get("items"):
                break
            items.extend(page["items"])
    if call.as_json:
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


@command()
def status(call: Call, job_id: JobIdArgument) -> None:
    """Show one job: phase, progress, message, times, options."""
    with call.inv.client() as client:
        job = client.job(job_id)
    if call.as_json:
        display.emit_json(job)
    else:
        display.stdout().print(display.job_details(job))


@command()
def cancel(
    call: Call,
    job_ids: Annotated[list[str], typer.Argument(metavar="ID", help="The jobs to cancel.")],
) -> ExitCode:
    """Cancel jobs and remove them, their videos and MP3s."""
    results: list[dict[str, Any]] = []
    code = ExitCode.OK
    with call.inv.client() as client:
        for job_id in job_ids:
            try:
                client.cancel(job_id)
            except CliError as exc:
                if exc.code in (ExitCode.NOT_LOGGED_IN, ExitCode.UNREACHABLE):
                    raise  # no point trying the others
                results.append({"id": job_id, "cancelled": False, "error": exc.as_json()})
                code = code or exc.code
                if not call.as_json:
                    display.stderr().print(f"Error: {job_id}: {exc.message}", markup=False, style="red")
            else:
                results.append({"id": job_id, "cancelled": True})
                if not call.as_json:
                    display.stdout().print(f"Cancelled {job_id}; its video and MP3 are removed.")
    if call.as_json:
        display.emit_json({"results": results})
    return code
