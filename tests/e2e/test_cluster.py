"""Failures a real cluster produces, seen as a user and a cluster operator see them: a converter
killed for its memory, a converter image that is not there (the public API, the mailbox, kubectl).
What the release does without other settings is in test_release.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from devstack import mailbox
from devstack.kube import Kube
from devstack.process import wait_until
from devstack.samples import sample_video
from devstack.servers.release import NAMESPACE
from tests.support.e2e_harness import Ended, User, converter_pods, upload, wait_until_done

# serial: each upgrades the release with other settings (a tiny memory limit, in conftest's
# out_of_memory; a missing image)
pytestmark = [pytest.mark.devstack, pytest.mark.e2e, pytest.mark.serial]

ChartSettings = Callable[..., AbstractContextManager[None]]
JOBS = f"/apis/mp4mp3.io/v1alpha1/namespaces/{NAMESPACE}/conversionjobs"


def emails_about(urls: dict[str, str], user: User, job_id: str) -> int:
    time.sleep(3)  # a second email, if one were sent, would follow the first within seconds
    return len(mailbox.messages(Path(urls["mail"]), user.email, job_id))


# --- failures a cluster produces --------------------------------------------------------------------


def test_a_converter_out_of_memory_fails_the_job_saying_memory_and_mails_once(
    urls: dict[str, str], out_of_memory: dict[str, Ended], kube: Kube
) -> None:
    user, job_id, job = out_of_memory["mailed"]

    assert job["phase"] == "Failed", job
    assert "memory" in job["message"].lower(), job
    cj = kube.get(f"{JOBS}/{job_id}")
    assert cj["status"]["reason"] == "OutOfMemory"
    reasons = {
        c["state"]["terminated"]["reason"]
        for p in converter_pods(kube, job_id)
        for c in p["status"].get("containerStatuses") or []
        if "terminated" in c["state"]
    }
    assert reasons == {"OOMKilled"}  # the kubelet's verdict, not a guess from exit code 137
    _, mail = mailbox.wait_for(Path(urls["mail"]), user.email, job_id)
    assert "memory" in mailbox.text_of(mail).lower()
    assert emails_about(urls, user, job_id) == 1


def test_a_converter_image_that_does_not_exist_fails_the_job_within_a_minute(
    http: httpx.Client, urls: dict[str, str], chart_settings: ChartSettings, kube: Kube
) -> None:
    with chart_settings("operator.converter.image.tag=no-such-tag"):
        user = User(http, urls["auth"])
        started = time.monotonic()
        job_id = upload(http, urls["gateway"], user, sample_video(seconds=3))
        job = wait_until_done(http, urls["gateway"], user, job_id, timeout=120)
        took = time.monotonic() - started

    assert job["phase"] == "Failed", job
    assert took < 60, f"the failure took {took:.0f} s"
    assert "no-such-tag" in job["message"] and "ErrImageNeverPull" in job["message"], job
    assert kube.get(f"{JOBS}/{job_id}")["status"]["reason"] == "ImageUnavailable"
    wait_until(lambda: not converter_pods(kube, job_id), 60, "the stuck converter pod removed with its Job")
    mailbox.wait_for(Path(urls["mail"]), user.email, job_id)
    assert emails_about(urls, user, job_id) == 1
