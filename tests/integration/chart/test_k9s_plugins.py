"""docs/k9s/plugins.yaml, run the way k9s runs it ($NAME, $NAMESPACE, $CONTEXT filled in) against
ConversionJobs made through the devstack's real gateway, operator and converter."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.config import ROOT
from devstack.kube import ApiError, Kube
from devstack.samples import probe_codec, sample_video
from devstack.servers.services import NAMESPACE
from devstack.stack import Stack

pytestmark = pytest.mark.devstack

PLUGINS = yaml.safe_load((ROOT / "docs" / "k9s" / "plugins.yaml").read_text())["plugins"]
CONVERSIONJOBS = f"/apis/mp4mp3.io/v1alpha1/namespaces/{NAMESPACE}/conversionjobs"


@pytest.fixture(scope="module")
def stack(devstack: Stack) -> Iterator[Stack]:
    """The whole devstack, the system installed by the chart as `make up` does; stops afterwards
    what it started (unless MP4MP3_KEEP_DEVSTACK)."""
    started = [name for name, server in devstack.servers.items() if not server.running()]
    devstack.up()
    yield devstack
    if started and not os.environ.get("MP4MP3_KEEP_DEVSTACK"):
        devstack.down(started)


@dataclass
class User:
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def new_user(stack: Stack) -> User:
    """A user signed up at auth and logged in through the gateway, as the k9s notes say."""
    env = stack.env()
    email, password = f"k9s-{secrets.token_hex(4)}@mp4mp3.localhost", secrets.token_urlsafe(12)
    with httpx.Client(timeout=30) as http:
        assert http.post(f"{env['AUTH_URL']}/signup", json={"email": email, "password": password}).is_success
        resp = http.post(f"{env['GATEWAY_URL']}/login", auth=(email, password))
    assert resp.status_code == 200, resp.text
    return User(resp.json()["access_token"])


@pytest.fixture(scope="module")
def user(stack: Stack) -> User:
    return new_user(stack)


def run_plugin(stack: Stack, plugin: str, name: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a plugin as k9s does: its $NAME, $NAMESPACE and $CONTEXT substituted in the args."""
    spec = PLUGINS[plugin]
    k9s_vars = {"NAME": name, "NAMESPACE": NAMESPACE, "CONTEXT": "mp4mp3-devstack"}
    args = [
        re.sub(r"\$([A-Za-z_][\w-]*)", lambda m: k9s_vars.get(m.group(1).upper(), m.group(0)), str(a))
        for a in spec["args"]
    ]
    kubectl_dir = stack.cfg.binaries["KUBERNETES_BIN"]
    full_env = {
        "PATH": f"{kubectl_dir}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "KUBECONFIG": str(stack.cfg.kubeconfig),
        **env,
    }
    return subprocess.run([spec["command"], *args], env=full_env, capture_output=True, text=True, timeout=120)


def upload(stack: Stack, user: User, video: Path) -> str:
    with httpx.Client(timeout=60) as http, video.open("rb") as fh:
        resp = http.post(
            f"{stack.env()['GATEWAY_URL']}/jobs",
            headers=user.headers,
            files={"file": (video.name, fh, "video/mp4")},
        )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def wait_for_phase(
    kube: Kube, name: str, phases: set[str], uid: str | None = None, timeout: float = 180
) -> Any:
    deadline = time.monotonic() + timeout
    cr: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            cr = kube.get(f"{CONVERSIONJOBS}/{name}")
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            if (uid is None or cr["metadata"]["uid"] == uid) and cr.get("status", {}).get("phase") in phases:
                return cr
        time.sleep(0.5)
    raise AssertionError(f"{name} not in {phases} after {timeout} s: {cr.get('status')}")


@pytest.fixture(scope="module")
def kube(stack: Stack) -> Iterator[Kube]:
    client = Kube.from_kubeconfig(stack.cfg.kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="module")
def succeeded(stack: Stack, user: User, kube: Kube) -> str:
    name = upload(stack, user, sample_video(seconds=3))
    wait_for_phase(kube, name, {"Succeeded", "Failed"})
    return name


@pytest.fixture(scope="module")
def failed(stack: Stack, user: User, kube: Kube) -> str:
    name = upload(stack, user, sample_video(seconds=3, audio=False))
    cr = wait_for_phase(kube, name, {"Succeeded", "Failed"})
    assert cr["status"]["reason"] == "NoAudioStream", cr["status"]
    return name


def test_logs_show_the_converter_pods_output(stack: Stack, succeeded: str) -> None:
    result = run_plugin(stack, "mp4mp3-logs", succeeded)

    assert result.returncode == 0, result.stdout
    assert f"job={succeeded}" in result.stdout  # the converter's own lines
    assert "[pod/" in result.stdout  # prefixed with the pod's name: every attempt tells apart


def test_download_saves_the_mp3_through_the_gateway(
    stack: Stack, user: User, succeeded: str, tmp_path: Path
) -> None:
    result = run_plugin(
        stack,
        "mp4mp3-download",
        succeeded,
        MP4MP3_API=stack.env()["GATEWAY_URL"],
        MP4MP3_TOKEN=user.token,
        MP4MP3_DOWNLOADS=str(tmp_path),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    saved = tmp_path / f"{succeeded}.mp3"
    assert f"Saved {saved}" in result.stdout
    assert probe_codec(saved) == "mp3"


def test_download_without_a_token_says_what_to_set(stack: Stack, succeeded: str, tmp_path: Path) -> None:
    result = run_plugin(stack, "mp4mp3-download", succeeded, MP4MP3_DOWNLOADS=str(tmp_path))

    assert result.returncode == 1
    assert "Set MP4MP3_TOKEN" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_download_with_another_users_token_gets_nothing(stack: Stack, succeeded: str, tmp_path: Path) -> None:
    stranger = new_user(stack)
    result = run_plugin(
        stack,
        "mp4mp3-download",
        succeeded,
        MP4MP3_API=stack.env()["GATEWAY_URL"],
        MP4MP3_TOKEN=stranger.token,
        MP4MP3_DOWNLOADS=str(tmp_path),
    )

    assert result.returncode != 0
    assert "404" in result.stderr
    assert not (tmp_path / f"{succeeded}.mp3").exists()


def test_retry_reruns_a_failed_job_and_keeps_its_video(stack: Stack, kube: Kube, failed: str) -> None:
    before = kube.get(f"{CONVERSIONJOBS}/{failed}")

    result = run_plugin(stack, "mp4mp3-retry", failed)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Retrying {failed}" in result.stdout
    after = _wait_for_new_series(kube, failed, int(before["status"].get("series") or 0) + 1)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # the same resource, run again
    # it ran again, on the same video: still no audio, and not "the video is no longer stored"
    assert after["status"]["reason"] == "NoAudioStream", after["status"]
    assert after["status"]["jobName"].endswith(f"-r{after['status']['series']}")


def test_retry_refuses_a_job_that_did_not_fail(stack: Stack, kube: Kube, succeeded: str) -> None:
    uid = kube.get(f"{CONVERSIONJOBS}/{succeeded}")["metadata"]["uid"]

    result = run_plugin(stack, "mp4mp3-retry", succeeded)

    assert result.returncode == 1
    assert "only a Failed ConversionJob is retried" in result.stdout
    assert kube.get(f"{CONVERSIONJOBS}/{succeeded}")["metadata"]["uid"] == uid


def _wait_for_new_series(kube: Kube, name: str, series: int, timeout: float = 180) -> Any:
    """The ConversionJob once its retry's series ``series`` ran to its end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cr = kube.get(f"{CONVERSIONJOBS}/{name}")
        st = cr.get("status") or {}
        if st.get("series") == series and st.get("phase") in ("Succeeded", "Failed"):
            return cr
        time.sleep(0.5)
    raise AssertionError(f"{name} did not finish a retry within {timeout} s")
