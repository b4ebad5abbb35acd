"""End to end, for real: a job failed by a transient fault (the cluster's converter memory limit set
too low for a while) is retried through the public API once the limit is back, and ends Succeeded
with one MP3 and one new email; a retry of a Succeeded job is refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import mailbox
from devstack.kube import Kube
from devstack.servers.release import NAMESPACE
from tests.support.e2e_harness import Ended, User

# serial: it upgrades the release with a tiny memory limit for a while (conftest's out_of_memory)
pytestmark = [pytest.mark.devstack, pytest.mark.e2e, pytest.mark.serial]

ChartSettings = Callable[..., AbstractContextManager[None]]
JOBS = f"/apis/mp4mp3.io/v1alpha1/namespaces/{NAMESPACE}/conversionjobs"


def wait_for_retry_to_end(http: httpx.Client, url: str, user: User, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = http.get(url, headers=user.headers).json()
        if job.get("retries") == 1 and job["phase"] in ("Succeeded", "Failed"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"the retry did not end within {timeout} s: {job}")


def test_retry_of_a_job_failed_by_a_transient_fault_succeeds_with_one_new_email(
    http: httpx.Client, urls: dict[str, str], out_of_memory: dict[str, Ended], kube: Kube
) -> None:
    # the fault: the converter's memory limit far too small while the job ran; back to the
    # devstack's values now
    user, job_id, failed = out_of_memory["retried"]
    assert (failed["phase"], failed["reason"]) == ("Failed", "OutOfMemory"), failed
    mailbox.wait_for(Path(urls["mail"]), user.email, job_id)  # the failure's email
    url = f"{urls['gateway']}/jobs/{job_id}"

    retried = http.post(f"{url}/retry", headers=user.headers)
    assert retried.status_code == 202, retried.text
    done = wait_for_retry_to_end(http, url, user)

    assert done["phase"] == "Succeeded", done
    mp3 = http.get(f"{url}/mp3", headers=user.headers)
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg" and mp3.content
    deadline = time.monotonic() + 60
    while len(mailbox.messages(Path(urls["mail"]), user.email, job_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # a third email, if one were sent, would follow within seconds
    assert len(mailbox.messages(Path(urls["mail"]), user.email, job_id)) == 2  # one new email
    again = http.post(f"{url}/retry", headers=user.headers)
    assert again.status_code == 409 and "Succeeded" in again.json()["detail"]
    status = kube.get(f"{JOBS}/{job_id}")["status"]
    history = [(t["phase"], t["reason"], t["series"]) for t in status["transitions"]]
    assert ("Failed", "OutOfMemory", 0) in history and history[-1] == ("Succeeded", "Converted", 1)
    assert status["jobName"] == f"{job_id}-r1" and status["expiresAt"] > status["finishedAt"]
