"""End to end, as a user: only the public HTTP APIs and the mailbox.

signup -> login -> upload -> the ConversionJob runs as a Kubernetes Job -> email -> download.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import mailbox
from devstack.samples import probe_codec, probe_duration, sample_video
from devstack.stack import Stack

pytestmark = [pytest.mark.devstack, pytest.mark.e2e]


class User:
    def __init__(self, http: httpx.Client, auth: str) -> None:
        self.email = f"e2e-{secrets.token_hex(4)}@mp4mp3.localhost"
        password = secrets.token_urlsafe(12)
        resp = http.post(f"{auth}/signup", json={"email": self.email, "password": password})
        assert resp.status_code == 201, resp.text
        resp = http.post(f"{auth}/login", auth=(self.email, password))
        assert resp.status_code == 200, resp.text
        self.headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.fixture(scope="module")
def urls(devstack: Stack) -> dict[str, str]:
    env = devstack.env()
    return {"gateway": env["GATEWAY_URL"], "auth": env["AUTH_URL"], "mail": env["MAIL_DIR"]}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120) as client:
        yield client


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
            if job.get("phase") in ("Succeeded", "Failed", "Cancelled"):
                return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not done after {timeout} s: {job}")


def test_video_becomes_an_mp3_and_its_owner_is_emailed(
    http: httpx.Client, urls: dict[str, str], tmp_path: Path
) -> None:
    user = User(http, urls["auth"])
    video = sample_video(seconds=12)
    job_id = upload(http, urls["gateway"], user, video, bitrate="128k")

    job = wait_until_done(http, urls["gateway"], user, job_id)
    assert job["phase"] == "Succeeded", job
    assert job["progress"] == 100

    _, mail = mailbox.wait_for(Path(urls["mail"]), user.email, job_id)
    text = mailbox.text_of(mail)
    assert f"/jobs/{job_id}/mp3" in text
    assert video.name in text
    assert mailbox.text_of(mail, "html")  # both parts

    target = tmp_path / "out.mp3"
    with http.stream("GET", f"{urls['gateway']}/jobs/{job_id}/mp3", headers=user.headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "audio/mpeg"
        target.write_bytes(resp.read())
    assert probe_codec(target) == "mp3"
    assert abs(probe_duration(target) - probe_duration(video)) < 0.15


def test_video_without_audio_fails_and_the_email_says_why(http: httpx.Client, urls: dict[str, str]) -> None:
    user = User(http, urls["auth"])
    video = sample_video(seconds=3, audio=False)
    job_id = upload(http, urls["gateway"], user, video)

    job = wait_until_done(http, urls["gateway"], user, job_id)
    assert job["phase"] == "Failed", job
    assert "audio" in job["message"].lower()

    _, mail = mailbox.wait_for(Path(urls["mail"]), user.email, job_id)
    assert "audio" in mailbox.text_of(mail).lower()
    resp = http.get(f"{urls['gateway']}/jobs/{job_id}/mp3", headers=user.headers)
    assert resp.status_code in (404, 409)  # no MP3 to download, said clearly
