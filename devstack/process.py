"""Start, check and stop the devstack's processes, by the PIDs the devstack itself recorded.

Every process is started in its own session (so its process group is ours alone) and its PID
is written with its start time; ``stop`` acts only when both still match, so a recycled PID or
a server someone else started is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

LOG_TAIL_LINES = 25


class StartError(RuntimeError):
    """A server did not come up; the message names it and quotes its log."""


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    directory: Path  # holds pid.json and the log

    @property
    def pid_file(self) -> Path:
        # one record per process name: several processes may share a folder (epmd + rabbitmq)
        legacy = self.directory / "pid.json"  # before names: only a server's own folder used it
        own = self.directory / f"{self.name}.pid.json"
        if not own.exists() and legacy.exists() and self.directory.name == self.name:
            return legacy
        return own

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        clean_env: bool = False,
        user: str | None = None,
    ) -> subprocess.Popen[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("wb") as log:  # each start gets a fresh log
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env or {}) if clean_env else {**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                user=user,
                group=user,
            )
        record = {"pid": proc.pid, "started": psutil.Process(proc.pid).create_time(), "argv": argv}
        if self.directory.name == self.name:
            (self.directory / "pid.json").unlink(missing_ok=True)
        (self.directory / f"{self.name}.pid.json").write_text(json.dumps(record, default=str))
        return proc

    def process(self) -> psutil.Process | None:
        """Our process, if it still runs (same PID *and* same start time as recorded)."""
        try:
            record = json.loads(self.pid_file.read_text())
            proc = psutil.Process(record["pid"])
            if abs(proc.create_time() - record["started"]) > 0.01:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                proc.wait(0)
                return None
            return proc
        except (FileNotFoundError, ValueError, KeyError, psutil.Error):
            return None

    def running(self) -> bool:
        return self.process() is not None

    def stop(self, timeout: float = 20.0, sig: signal.Signals = signal.SIGTERM) -> bool:
        """SIGTERM our process group, SIGKILL it after ``timeout``. True if something was stopped."""
        proc = self.process()
        if proc is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        group = _group_members(proc.pid)
        _signal_group(proc.pid, sig)
        alive = _wait_ended(group, timeout)
        if alive:
            _signal_group(proc.pid, signal.SIGKILL)
            _wait_ended(alive, 5)
        self.pid_file.unlink(missing_ok=True)
        return True

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, check: Callable[[], bool], timeout: float, what: str = "ready") -> None:
        """Poll ``check`` until true; fail fast (with the log) if the process died meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if not self.running():
                raise StartError(f"{self.name} exited before it was {what}:\n{self.tail()}")
            time.sleep(0.2)
        raise StartError(f"{self.name} was not {what} after {timeout:.0f} s:\n{self.tail()}")


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def _wait_ended(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``procs`` still running after ``timeout`` s. A zombie has ended: an orphan's reaper,
    this machine's init, takes up to 2 s to reap it, which psutil.wait_procs would wait out."""
    deadline = time.monotonic() + timeout
    alive = procs
    while True:
        alive = [proc for proc in alive if _running(proc)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.02)


def _running(proc: psutil.Process) -> bool:
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return True
        with contextlib.suppress(psutil.TimeoutExpired):
            proc.wait(0)  # reaps it if it is our child
        return False
    except psutil.NoSuchProcess:
        return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy, and return that; TimeoutError after
    ``timeout`` seconds, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
