"""Helpers for the operator's tests: operator processes of our own from this checkout, test videos
made with ffmpeg, the converter's processes on the devstack node, and a tap on the outcome events.
The operator's world is in operator_world.py."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pika
import psutil

from common import messaging
from common.events import FAILED, SUCCEEDED
from devstack.config import LOOPBACK, ROOT, Config
from devstack.process import wait_until as wait_for

# -- videos -----------------------------------------------------------------------------------------


def make_video(
    path: Path, seconds: float, audio: bool = True, faststart: bool = True, stereo: bool = False
) -> Path:
    """A small H.264/AAC MP4 from ffmpeg's lavfi sources (a test pattern and a 440 Hz sine), made
    once per set of parameters into the cache (a 15-minute one costs ~20 CPU-s) and copied."""
    key = hashlib.sha256(repr((seconds, audio, faststart, stereo, 1)).encode()).hexdigest()[:12]
    cached = Config.from_env().cache / "samples" / f"test-video-{key}.mp4"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp.mp4")  # xdist workers may race
        _encode(tmp, seconds, audio, faststart, stereo).rename(cached)
    shutil.copyfile(cached, path)
    return path


def _encode(path: Path, seconds: float, audio: bool, faststart: bool, stereo: bool) -> Path:
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", "testsrc=size=96x64:rate=5"]
    if audio:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    argv += ["-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "ultrafast"]
    if audio:
        argv += ["-c:a", "aac", "-b:a", "64k", "-ac", "2" if stereo else "1"]
    if faststart:
        argv += ["-movflags", "+faststart"]
    subprocess.run([*argv, str(path)], check=True)
    return path


def top_level_atoms(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (moov after mdat: the index is at the end)."""
    atoms, data = [], path.read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        atoms.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return atoms


def ffprobe(path: Path) -> dict[str, Any]:
    argv = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    return dict(json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout))


def audio_seconds(path: Path) -> float:
    report = ffprobe(path)
    stream = next(s for s in report["streams"] if s["codec_type"] == "audio")
    return float(stream.get("duration") or report["format"]["duration"])


# -- the converter's processes on the devstack node --------------------------------------------------


def converter_processes(job_name: str) -> list[psutil.Process]:
    """The `python -m converter_job` processes of a ConversionJob (its containers on the devstack
    node are processes of this machine too)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "converter_job" not in cmdline or "-m" not in cmdline:
            continue
        try:
            if proc.environ().get("CONVERTER_JOB_NAME") == job_name:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


# -- operator processes ------------------------------------------------------------------------------


@dataclass
class OperatorProcess:
    """``python -m conversion_operator`` with the given OPERATOR_* env (and KUBECONFIG)."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.env['OPERATOR_HEALTH_PORT']}/healthz"

    def start(self, timeout: float = 90) -> OperatorProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPERATOR_")}
        env.update({"PYTHONUNBUFFERED": "1", **self.env})
        with self.log_path.open("ab") as log:
            log.write(f"---- start {self.starts} ----\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "conversion_operator"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        wait_for(self.healthy, timeout, f"the operator's /healthz ({self.log_tail()})")
        return self

    def healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"the operator exited:\n{self.log_tail()}")
        try:
            return httpx.get(self.health_url, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye to the peering, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(no log)"

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log_text()))


# -- outcome events ----------------------------------------------------------------------------------


@dataclass
class EventTap:
    """A queue of our own bound to the outcome routing keys in the test vhost: what the operator
    published, kept for the whole session (bound before any operator starts, so nothing is missed)."""

    amqp_url: str
    queue: str = "test.outcomes"
    seen: list[dict[str, Any]] = field(default_factory=list)

    def bind(self) -> EventTap:
        conn = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            channel = conn.channel()
            messaging.declare_topology(channel)
            channel.queue_declare(self.queue, durable=True)
            for key in (SUCCEEDED, FAILED):
                channel.queue_bind(self.queue, messaging.EVENTS_EXCHANGE, key)
        finally:
            conn.close()
        return self

    def drain(self) -> list[dict[str, Any]]:
        conn = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            channel = conn.channel()
            while True:
                method, properties, body = channel.basic_get(self.queue, auto_ack=True)
                if method is None:
                    return self.seen
                self.seen.append({**json.loads(body), "_message_id": properties.message_id})
        finally:
            conn.close()

    def events_for(self, job_name: str) -> list[dict[str, Any]]:
        return [e for e in self.drain() if e["job"]["name"] == job_name]
