"""`make demo`: the whole flow on the devstack, through the public APIs only.

`make up` first (the system installed by the Helm chart on the devstack's node), then: signs up a
demo user, uploads a generated 30 s video, follows the ConversionJob until it is done, shows the
email that arrived and downloads the MP3, checking it with ffprobe.
"""

from __future__ import annotations

import secrets
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from common.phases import TERMINAL
from devstack import mailbox
from devstack.config import ROOT
from devstack.samples import probe_codec, probe_duration, sample_video
from devstack.stack import Stack

console = Console()
OUT = ROOT / "out"


def main() -> int:
    stack = Stack()
    started = time.monotonic()
    console.print("[bold]Starting the devstack and installing the chart[/] (make up)")
    stack.up(echo=True)
    env = stack.env()
    gateway, auth, mail_dir = env["GATEWAY_URL"], env["AUTH_URL"], Path(env["MAIL_DIR"])

    video = sample_video(seconds=30)
    console.print(
        f"\n[bold]Sample video[/]: {video} ({video.stat().st_size / 1e6:.1f} MB, 30 s, "
        f"{probe_codec(video)} audio)"
    )

    user = f"demo-{secrets.token_hex(3)}@mp4mp3.localhost"
    password = secrets.token_urlsafe(12)
    with httpx.Client(timeout=60) as http:
        http.post(f"{auth}/signup", json={"email": user, "password": password}).raise_for_status()
        token = http.post(f"{auth}/login", json={"email": user, "password": password}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        console.print(f"[bold]Signed up and logged in[/] as {user}")

        with video.open("rb") as fh:
            resp = http.post(
                f"{gateway}/jobs",
                headers=headers,
                files={"file": (video.name, fh, "video/mp4")},
                data={"bitrate": "192k"},
            )
        if resp.status_code != 202:
            console.print(f"[red]upload refused[/]: {resp.status_code} {resp.text}")
            return 1
        job_id = resp.json()["id"]
        console.print(f"[bold]Uploaded[/]: job {job_id}  (kubectl -n mp4mp3 get cvj {job_id})")

        job = follow(http, f"{gateway}/jobs/{job_id}", headers)
        if job.get("phase") != "Succeeded":
            console.print(f"[red]conversion {job.get('phase')}[/]: {job.get('message')}")
            return 1

        mail_file, mail = mailbox.wait_for(mail_dir, user, job_id)
        show_mail(mail)

        OUT.mkdir(exist_ok=True)
        target = OUT / f"{video.stem}.mp3"
        with http.stream("GET", f"{gateway}/jobs/{job_id}/mp3", headers=headers) as download:
            download.raise_for_status()
            with target.open("wb") as out:
                for chunk in download.iter_bytes():
                    out.write(chunk)

    codec, seconds = probe_codec(target), probe_duration(target)
    ok = codec == "mp3" and abs(seconds - 30) < 0.2
    console.print(
        f"\n[bold]MP3[/]: {target} ({target.stat().st_size / 1e6:.2f} MB, {codec}, {seconds:.2f} s) "
        + ("[green]valid[/]" if ok else "[red]NOT as expected[/]")
    )
    console.print(f"[bold]Email[/]: {mail_file}")
    console.print(f"[bold]Demo time[/]: {time.monotonic() - started:.1f} s (make up included)")
    return 0 if ok else 1


def follow(http: httpx.Client, url: str, headers: dict[str, str], timeout: float = 600) -> dict:
    """Poll the job, showing phase and progress, until it ends."""
    deadline = time.monotonic() + timeout
    job: dict = {}
    with Progress(
        TextColumn("[bold]{task.fields[phase]:<10}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("convert", total=100, phase="Pending")
        while time.monotonic() < deadline:
            resp = http.get(url, headers=headers)
            if resp.status_code == 200:
                job = resp.json()
                bar.update(task, completed=job.get("progress") or 0, phase=job.get("phase") or "Pending")
                if job.get("phase") in TERMINAL:
                    break
            time.sleep(0.5)
    return job


def show_mail(message: EmailMessage) -> None:
    console.print("\n[bold]Email received[/]")
    for header in ("From", "To", "Subject", "Date"):
        console.print(f"  {header}: {message[header]}")
    console.print("  " + mailbox.text_of(message).strip().replace("\n", "\n  "))


if __name__ == "__main__":
    sys.exit(main())
