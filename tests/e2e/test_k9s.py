"""`make k9s` as a cluster operator meets it: k9s, built here, run in a terminal (tmux) on the
devstack with docs/k9s/, shows a conversion made through the public API in the ConversionJobs
view with the CRD's printer columns."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devstack import k9s
from devstack.samples import sample_video
from devstack.servers.release import NAMESPACE
from devstack.stack import Stack
from tests.support.e2e_harness import User, upload, wait_until_done

pytestmark = [pytest.mark.devstack, pytest.mark.e2e]

COLUMNS = ["NAMESPACE", "NAME", "PHASE", "PROGRESS", "OWNER", "SOURCE", "DURATION", "AGE"]


class Terminal:
    """A detached tmux session running one command, read as the screen a person would see."""

    # wide: k9s shows every printer column, MESSAGE (a sentence) among them, before AGE
    def __init__(self, command: list[str], env: dict[str, str], width: int = 600, height: int = 40) -> None:
        self.name = f"k9s-test-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name]  # a tmux server of its own, not a shared one
        exports = " ".join(
            f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith(("K9S", "XDG", "KUBE"))
        )
        shell = f"env {exports} PATH={shlex.quote(env['PATH'])} {shlex.join(command)}"
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell],
            check=True,
        )

    def screen(self) -> str:
        done = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return done.stdout

    def type(self, *keys: str) -> None:
        """Keys as a person types them (tmux key names: ``Enter``, ``Escape``)."""
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            time.sleep(0.5)
        raise AssertionError(f"{pattern!r} not on the screen after {timeout:.0f} s:\n{screen}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def conversion(urls: dict[str, str]) -> tuple[str, str]:
    """(job id, owner) of a finished conversion on the chart-installed system."""
    with httpx.Client(timeout=120) as http:
        user = User(http, urls["auth"])
        job_id = upload(http, urls["gateway"], user, sample_video(seconds=3))
        assert wait_until_done(http, urls["gateway"], user, job_id)["phase"] == "Succeeded"
    return job_id, user.email


@pytest.fixture
def terminal(devstack: Stack) -> Iterator[Terminal]:
    cfg = devstack.cfg
    if not k9s.binary(cfg).exists():
        subprocess.run(["devstack/build.sh", "k9s"], cwd=k9s.ROOT, check=True)
    screen = Terminal(k9s.argv(cfg, "-A", "-c", "cj", "--headless"), k9s.environment(cfg))
    yield screen
    screen.close()


def test_k9s_shows_the_conversion_in_the_conversionjobs_view_with_its_columns(
    conversion: tuple[str, str], terminal: Terminal
) -> None:
    job_id, owner = conversion
    terminal.wait_for("PHASE")  # the view is up; other tests' jobs may fill the screen: filter
    terminal.type("/", job_id, "Enter")

    # a table row (NAMESPACE, NAME), not the filter prompt ("🐩/ cj-…") that may still show
    row_pattern = rf"│\s*{NAMESPACE}\s+{re.escape(job_id)}\s"
    screen = terminal.wait_for(row_pattern)

    header = next(line for line in screen.splitlines() if "PHASE" in line)
    titles = [word.strip("│↑↓") for word in header.split()]  # the frame, and the sort column's arrow
    assert [c for c in titles if c in COLUMNS] == COLUMNS, header
    row = next(line for line in screen.splitlines() if re.search(row_pattern, line))
    assert "Succeeded" in row and owner in row and "100" in row, row
