"""What one command costs: wall time, CPU seconds of its whole process tree, peak RSS of the tree.

CPU comes from the kernel (``wait4``: the process plus every descendant it waited for), so it is
exact; the tree's RSS is sampled with psutil, since no kernel counter sums it (and the kernel's
``ru_maxrss`` of a child counts the memory of the Python parent it was forked from).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack.config import ROOT

MB = 1024 * 1024
RSS_INTERVAL = 0.02  # seconds between RSS samples of the known tree
SCAN_EVERY = 5  # look for new descendants every this many samples (a scan reads all of /proc)


@dataclass(frozen=True)
class Usage:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process and its waited-for descendants
    peak_tree_rss: int  # bytes: the largest sampled sum of RSS over the process and its descendants
    returncode: int


class CommandFailed(RuntimeError):
    pass


def measure(argv: Sequence[str], log: Path | None = None, env: dict[str, str] | None = None) -> Usage:
    """Run ``argv`` to its end and say what it cost; raises CommandFailed on a non-zero exit."""
    out = log.open("wb") if log else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            cwd=ROOT,  # for python -m bench.*
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        sampler.stop()
    finally:
        if log and not isinstance(out, int):
            out.close()
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-600:] if log else ""
        raise CommandFailed(f"{argv[0]} exited {proc.returncode}: {tail}")
    return Usage(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_tree_rss=sampler.peak,
        returncode=proc.returncode,
    )


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name=f"rss-{pid}")
        self.root = pid
        self.peak = 0
        self._stop_event = threading.Event()
        self._known: dict[int, psutil.Process] = {}

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def run(self) -> None:
        try:
            root = psutil.Process(self.root)
        except psutil.NoSuchProcess:
            return
        self._known = {self.root: root}
        tick = 0
        while not self._stop_event.is_set():
            if tick % SCAN_EVERY == 0:
                self._scan(root)
            self.peak = max(self.peak, self._sample())
            tick += 1
            self._stop_event.wait(RSS_INTERVAL)

    def _scan(self, root: psutil.Process) -> None:
        try:
            for child in root.children(recursive=True):
                self._known.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def _sample(self) -> int:
        total = 0
        for pid, proc in list(self._known.items()):
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                total += proc.memory_info().rss
            except psutil.Error:
                del self._known[pid]
        return total
