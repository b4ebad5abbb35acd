"""Running the end-to-end benchmark on the devstack: the floor (plain ffmpeg), then each batch:
sign up N users, upload at once, wait for every email, collect the timelines, clean up."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import re
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from rich.console import Console

from bench import ledger, stats
from bench.conversion import plain_ffmpeg
from bench.e2e.analysis import analyse, print_batch
from bench.e2e.report import report_section
from bench.e2e.timeline import BITRATE, FULL, POINTS, SMOKE, Batch, Job
from bench.e2e.watch import NAMESPACE, MailWatcher, Observer
from bench.inputs import Input, video_input
from bench.measure import measure
from bench.report import Section, load_average
from common import storage
from common.resources import GROUP, MP3S_BUCKET, PLURAL, VERSION, mp3_id, video_id_of
from devstack.kube import Kube
from devstack.stack import Stack

PROGRESS_EVERY = 10.0  # seconds between progress lines while a batch runs

PASSWORD = "bench-" + secrets.token_urlsafe(12)

CONVERTER_LOG = re.compile(r"event=(?:source|mp3)\.(downloaded|stored) .*?seconds=([0-9.]+)")


def section(
    smoke: bool = False, console: Console | None = None, batches: list[Batch] | None = None
) -> Section:
    console = console or Console()
    stack = Stack()
    stack.up()  # idempotent: reuses what runs
    env = stack.env()
    sample = video_input(3, 240) if smoke else video_input(30, 360)
    floor = _floor(sample)
    console.print(
        f"  e2e sample {sample.label} ({sample.video.stat().st_size / 1e6:.1f} MB); plain ffmpeg "
        f"wall {floor['wall']:.2f} s, cpu {floor['cpu']:.2f} s"
    )
    results: dict[str, Any] = {}
    for batch in batches or (SMOKE if smoke else FULL):
        jobs: list[Job] = []
        cpu: dict[str, float] = {}
        loads = {"before": load_average()}
        for repeat in range(batch.repeats):
            label = f"{batch.label} #{repeat + 1}"
            ran, spent = _run_batch(env, stack, sample, batch.concurrency, console, label)
            jobs += [dataclasses.replace(j, round=repeat) for j in ran]
            cpu = {k: round(cpu.get(k, 0.0) + spent.get(k, 0.0), 2) for k in {*cpu, *spent}}
        loads["after"] = load_average()
        results[batch.label] = {**analyse(batch, jobs, floor, loads), "cpu_seconds": cpu}
        print_batch(console, batch.label, results[batch.label])
    return report_section(sample, floor, results)


def _run_batch(
    env: dict[str, str], stack: Stack, sample: Input, n: int, console: Console, label: str
) -> tuple[list[Job], dict[str, float]]:
    """One batch: sign up, upload at once, wait for every email; the jobs and where the CPU went."""
    gateway, auth, mail_dir = env["GATEWAY_URL"], env["AUTH_URL"], Path(env["MAIL_DIR"])
    tokens = _sign_up(auth, n)
    observer = Observer(stack.cfg.kubeconfig)
    mail = MailWatcher(mail_dir)
    observer.start()
    jobs = [Job(user=email, upload_start=0.0) for email in tokens]
    gate = threading.Barrier(n)
    threads = [
        threading.Thread(target=_upload, args=(gateway, tokens[job.user], sample, job, gate), daemon=True)
        for job in jobs
    ]
    before = ledger.snapshot(stack)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [j for j in jobs if j.name is None]
    if refused:
        console.print(
            f"  [red]{len(refused)} uploads refused[/]: {refused[0].status_code} {refused[0].error}"
        )
    _wait_until_done(jobs, observer, mail, timeout=180 + 12 * n, console=console, label=label)
    spent = ledger.spent(before, ledger.snapshot(stack))
    observer.stop()
    _collect(jobs, observer, mail, env["MONGO_URI"])
    _read_converter_logs(jobs, stack)
    _delete(env, tokens, jobs, stack, console)
    return jobs, spent


def _sign_up(auth: str, n: int) -> dict[str, str]:
    """``n`` new users, each with a fresh access token."""
    tokens = {}
    with httpx.Client(base_url=auth, timeout=60) as http:
        for _ in range(n):
            user = f"bench-{secrets.token_hex(5)}@mp4mp3.localhost"
            http.post("/signup", json={"email": user, "password": PASSWORD}).raise_for_status()
            tokens[user] = _login(auth, user)
    return tokens


def _login(auth: str, user: str) -> str:
    resp = httpx.post(f"{auth}/login", json={"email": user, "password": PASSWORD}, timeout=60)
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def _upload(gateway: str, token: str, sample: Input, job: Job, gate: threading.Barrier) -> None:
    gate.wait()  # every upload starts at once
    job.upload_start = time.time()
    try:
        with httpx.Client(timeout=600) as http, TimedReader(io.FileIO(sample.video, "rb")) as fh:
            resp = http.post(
                f"{gateway}/jobs",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": (sample.video.name, fh, "video/mp4")},
                data={"bitrate": BITRATE},
            )
    except httpx.HTTPError as exc:
        job.error = f"{type(exc).__name__}: {exc}"
        return
    job.accepted = time.time()
    if fh.finished is not None:
        job.times["upload_done"] = fh.finished
    job.status_code = resp.status_code
    if resp.status_code == 202:
        job.name = str(resp.json()["id"])
    else:
        job.error = resp.text[:300]


class TimedReader(io.BufferedReader):
    """A file that notes when it was read to its end: httpx streams a multipart file by reading it
    chunk by chunk into the socket, so that is when the client has sent the whole video."""

    finished: float | None = None

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if not data and self.finished is None:
            self.finished = time.time()
        return data


def _wait_until_done(
    jobs: list[Job], observer: Observer, mail: MailWatcher, timeout: float, console: Console, label: str
) -> None:
    """Until every accepted job has its email, or ended without success; at most ``timeout`` s."""
    names = {j.name for j in jobs if j.name}
    deadline = time.monotonic() + timeout
    shown: set[str] = set()
    said = 0.0
    while time.monotonic() < deadline:
        mail.scan()
        failed = {n for n in names if observer.phase(n) in ("Failed", "Cancelled")}
        for name in failed - shown:
            api = observer.api.get(name, {})
            console.print(
                f"  [red]{name} {observer.phase(name)}[/]: {api.get('reason')}: {api.get('message')}"
            )
        done = {n for n in names if n in mail.sent} | failed
        finished = done >= names
        if len(done) != len(shown) and (finished or time.monotonic() - said > PROGRESS_EVERY):
            console.print(f"  e2e {label}: {len(done)}/{len(names)} done ({len(failed)} failed)")
            said = time.monotonic()
        shown = done
        if finished:
            return
        time.sleep(0.25)
    console.print(f"  [red]e2e {label}: gave up waiting after {timeout:.0f} s[/]")


def _collect(jobs: list[Job], observer: Observer, mail: MailWatcher, mongo_uri: str) -> None:
    db = storage.database(mongo_uri, serverSelectionTimeoutMS=10_000)
    try:
        for job in jobs:
            if not job.name:
                continue
            seen = observer.seen.get(job.name, {})
            job.times.update({k: v for k, v in seen.items() if k in POINTS or k.startswith(("pod_", "job_"))})
            job.api = dict(observer.api.get(job.name, {}))
            job.phase = observer.phase(job.name)
            video = db["videos.files"].find_one({"_id": ObjectId(video_id_of(job.name))}, {"uploadDate": 1})
            if video:  # whole seconds (the gateway rounds it for stable ETags): for reference only
                job.api["video_upload_date"] = video["uploadDate"].isoformat()
            uid = job.api.get("uid")
            mp3 = (
                db[f"{MP3S_BUCKET}.files"].find_one({"_id": mp3_id(uid)}, {"uploadDate": 1}) if uid else None
            )
            if mp3:
                job.times["conversion_done"] = _epoch(mp3["uploadDate"])
                # the kubelet reports a pod Running at its next status sync (about a second on this
                # node): a converter done sooner is first seen Running after its MP3 was stored.
                # Then the kubelet's own record of the container's start (whole seconds) is used.
                done = job.times["conversion_done"]
                if job.times.get("pod_started", 0.0) > done:
                    job_seen = job.times.get("job_created", 0.0)
                    job.times["pod_started"] = container_start(job.api, job_seen, done)
            if job.name in mail.sent:
                job.times["email_sent"] = mail.sent[job.name]
    finally:
        db.client.close()


def _read_converter_logs(jobs: list[Job], stack: Stack) -> None:
    """The converter's own account of its run (``kubectl logs``): seconds to download the video,
    and to download + convert + store, counted from after its imports."""
    kube = Kube.from_kubeconfig(stack.cfg.kubeconfig)
    try:
        for job in jobs:
            pod = job.api.get("pod")
            if not pod:
                continue
            try:
                resp = kube.http.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log")
            except httpx.HTTPError:
                continue
            for event, seconds in CONVERTER_LOG.findall(resp.text if resp.status_code == 200 else ""):
                job.converter[event] = float(seconds)
    finally:
        kube.close()


def _delete(
    env: dict[str, str], tokens: dict[str, str], jobs: list[Job], stack: Stack, console: Console
) -> None:
    """Best effort: the shared devstack keeps no benchmark files (DELETE runs the finalizer)."""
    with httpx.Client(base_url=env["GATEWAY_URL"], timeout=60) as http:
        for job in jobs:
            if not job.name:
                continue
            with contextlib.suppress(httpx.HTTPError):
                path = f"/jobs/{job.name}"
                resp = http.delete(path, headers={"Authorization": f"Bearer {tokens[job.user]}"})
                if resp.status_code == 401:  # the token expired during a long batch
                    tokens[job.user] = _login(env["AUTH_URL"], job.user)
                    http.delete(path, headers={"Authorization": f"Bearer {tokens[job.user]}"})
    kube = Kube.from_kubeconfig(stack.cfg.kubeconfig)
    names = {j.name for j in jobs if j.name}
    deadline = time.monotonic() + 600  # the finalizer deletes the Job and both files first
    try:
        while time.monotonic() < deadline:
            items = kube.get(f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}")["items"]
            left = names & {i["metadata"]["name"] for i in items}
            if not left:
                return
            time.sleep(1)
        console.print(f"  [yellow]{len(left)} benchmark ConversionJobs still being deleted[/]")
    finally:
        kube.close()


def _floor(sample: Input) -> dict[str, float]:
    """Plain ffmpeg on the sample (median of 3): the conversion no system can avoid."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        out = Path(tmp) / "floor.mp3"
        for _ in range(3):
            usage = measure(plain_ffmpeg(sample.video, out))
            walls.append(usage.wall)
            cpus.append(usage.cpu)
    return {"wall": stats.median(walls), "cpu": stats.median(cpus)}


def container_start(api: dict[str, Any], lower: float, upper: float) -> float:
    """When the converter's container started, from its status (``startedAt``, whole seconds, so
    up to a second early), never before ``lower`` (its Job first seen: the truncated second can
    fall before it) nor after ``upper`` (its MP3 stored); ``upper`` when the status had none."""
    stamp = api.get("container_started")
    if not stamp:
        return upper
    started = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return min(upper, max(lower, started))


def _epoch(value: dt.datetime) -> float:
    """pymongo returns naive UTC datetimes."""
    return value.replace(tzinfo=dt.UTC).timestamp() if value.tzinfo is None else value.timestamp()
