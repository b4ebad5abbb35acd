"""A user of the chart-installed system, as the end-to-end tests play one: sign up and log in at
auth, upload at the gateway, follow the job until it ends (public HTTP APIs only)."""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from common.resources import JOB_LABEL
from devstack.kube import Kube
from devstack.servers.release import NAMESPACE

TERMINAL = ("Succeeded", "Failed", "Cancelled")


class User:
    def __init__(self, http: httpx.Client, auth: str) -> None:
        self.email = f"e2e-{secrets.token_hex(4)}@mp4mp3.localhost"
        password = secrets.token_urlsafe(12)
        resp = http.post(f"{auth}/signup", json={"email": self.email, "password": password})
        assert resp.status_code == 201, resp.text
        resp = http.post(f"{auth}/login", auth=(self.email, password))
        assert resp.status_code == 200, resp.text
        self.headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}


class Ended(NamedTuple):
    """A user's job and what GET /jobs/{id} said once it ended."""

    user: User
    job_id: str
    job: dict[str, Any]


def upload(http: httpx.Client, gateway: str, user: User, video: Path, **options: str) -> str:
    with video.open("rb") as fh:
        resp = http.post(
            f"{gateway}/jobs",
            headers=user.headers,
            files={"file": (video.name, fh, "video/mp4")},
            data=options,
        )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def wait_until_done(http: httpx.Client, gateway: str, user: User, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        resp = http.get(f"{gateway}/jobs/{job_id}", headers=user.headers)
        if resp.status_code == 200:
            job = resp.json()
            if job.get("phase") in TERMINAL:
                return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not done after {timeout} s: {job}")


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A command (kubectl, helm) with its output captured as text, at most two minutes."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)


def converter_pods(kube: Kube, job_id: str) -> list[dict[str, Any]]:
    """The converter pods of a job in the release's namespace."""
    path = f"/api/v1/namespaces/{NAMESPACE}/pods"
    return list(kube.get(path, labelSelector=f"{JOB_LABEL}={job_id}")["items"])
