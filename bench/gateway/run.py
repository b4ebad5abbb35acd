"""The run: interleaved rounds per size, both contenders of each operation back to back (which goes
first alternating), in a world and gateway process of the bench's own."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
from rich.console import Console

from bench.gateway.contenders import (
    FTYP,
    gateway_download,
    gateway_upload,
    make_input,
    prepare_download,
    raw_download,
    raw_upload,
)
from bench.gateway.results import MB, MiB, Result, Run
from bench.gateway.world import PeakRss, World, gateway_process, world
from bench.report import load_average
from common.resources import CHUNK_SIZE
from devstack.servers.services import GATEWAY_SERVERS
from devstack.stack import Stack


def measure(sizes_mb: list[float], rounds: int, console: Console | None = None) -> Result:
    """Run the interleaved rounds; nothing is written (``main`` and ``section`` do that)."""
    console = console or Console()
    stack = Stack()
    stack.up(GATEWAY_SERVERS)  # idempotent: reuses what runs
    result = Result(parameters={"sizes_mb": sizes_mb, "rounds": rounds, "chunk_size": CHUNK_SIZE})
    result.load_average["before"] = load_average()
    folder = Path(tempfile.mkdtemp(prefix="gwbench-"))
    try:
        with world(stack, folder) as w, gateway_process(w.env, folder / "gateway.log") as (url, proc):
            account = Account(w.auth_url)
            token = account.token()
            httpx.post(
                f"{url}/jobs", headers={"Authorization": f"Bearer {token}"}, files={"file": ("w.mp4", FTYP)}
            )
            result.gateway_rss_mb["idle"] = round(proc.memory_info().rss / MiB, 1)
            for size_mb in sizes_mb:
                source = make_input(folder, int(size_mb * MB))
                download_job = prepare_download(w, url, token, source)
                for n in range(rounds):
                    token = account.token()  # a 300 MB round takes minutes; tokens live 15
                    _round(result, w, url, token, proc, source, download_job, size_mb, n, console)
                source.unlink()
            result.gateway_rss_mb["end"] = round(proc.memory_info().rss / MiB, 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result.load_average["after"] = load_average()
    return result


def _round(
    result: Result,
    w: World,
    url: str,
    token: str,
    proc: psutil.Process,
    source: Path,
    download_job: str,
    size_mb: float,
    n: int,
    console: Console,
) -> None:
    """One round: both contenders of each operation back to back, which goes first alternating."""
    uploads: list[tuple[str, Callable[[], float]]] = [
        ("raw", lambda: raw_upload(w.db, source)),
        ("gateway", lambda: gateway_upload(w, url, token, source)),
    ]
    downloads: list[tuple[str, Callable[[], tuple[float, str]]]] = [
        ("raw", lambda: raw_download(w.db, download_job)),
        ("gateway", lambda: gateway_download(url, token, download_job)),
    ]
    if n % 2:
        uploads.reverse()
        downloads.reverse()
    for contender, upload in uploads:
        with PeakRss(proc) as rss:
            seconds = upload()
        _record(result, "upload", contender, size_mb, n, seconds, rss, console)
    digests = set()
    for contender, download in downloads:
        with PeakRss(proc) as rss:
            seconds, digest = download()
        digests.add(digest)
        _record(result, "download", contender, size_mb, n, seconds, rss, console)
    if len(digests) != 1:
        raise RuntimeError("the gateway served other bytes than GridFS holds")


def _record(
    result: Result,
    op: str,
    contender: str,
    size_mb: float,
    n: int,
    seconds: float,
    rss: PeakRss,
    console: Console,
) -> None:
    growth = round(rss.growth_mb, 1) if contender == "gateway" else None
    run = Run(op, contender, size_mb, n, round(seconds, 3), round(size_mb / seconds, 1), growth)
    result.runs.append(run)
    extra = f", gateway RSS +{growth} MiB" if growth is not None else ""
    console.print(f"  {op:<8} {contender:<7} {size_mb:g} MB round {n + 1}: {run.mb_per_s} MB/s{extra}")


class Account:
    """A user of the real auth service; ``token()`` logs in again (tokens live 15 minutes)."""

    def __init__(self, auth_url: str) -> None:
        self.auth_url = auth_url
        self.email = f"gwbench-{secrets.token_hex(5)}@mp4mp3.localhost"
        self.password = secrets.token_urlsafe(16)
        with httpx.Client(base_url=auth_url, timeout=30) as http:
            http.post("/signup", json={"email": self.email, "password": self.password}).raise_for_status()

    def token(self) -> str:
        with httpx.Client(base_url=self.auth_url, timeout=30) as http:
            login = http.post("/login", json={"email": self.email, "password": self.password})
            login.raise_for_status()
            return str(login.json()["access_token"])
