"""A converter pod's container state in the ConversionJob's status (pure): an image that never
starts fails the conversion at once, a converter killed for its memory says memory."""

from __future__ import annotations

from typing import Any

from conversion_operator import troubles, views
from conversion_operator.status import Limits
from tests.unit.test_operator_status import LIMITS, T0, desired, job, pod

OOM = troubles.OOM_KILLED
IMAGE = "localhost/mp4mp3/converter:missing"
OOM_LIMITS = Limits(backoff_limit=2, deadline_seconds=1800, memory_limit="24Mi", image=IMAGE)


def raw_pod(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "cj-1-abc", "creationTimestamp": T0},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "converter", "state": state}]},
    }


def test_pod_view_reads_the_waiting_and_terminated_reasons() -> None:
    waiting = views.pod_view(raw_pod({"waiting": {"reason": "ErrImageNeverPull", "message": "not present"}}))
    killed = views.pod_view(raw_pod({"terminated": {"reason": "OOMKilled", "exitCode": 137}}))

    assert (waiting.waiting_reason, waiting.waiting_message) == ("ErrImageNeverPull", "not present")
    assert (killed.terminated_reason, killed.exit_code) == ("OOMKilled", 137)


def test_an_image_that_is_not_there_fails_the_conversion_at_once_naming_it() -> None:
    stuck = pod("p1", "Pending", waiting_reason="ErrImageNeverPull", waiting_message="image not present")

    st = desired(job=job(active=1), pods=[stuck], limits=OOM_LIMITS)

    assert (st["phase"], st["reason"]) == ("Failed", troubles.IMAGE_UNAVAILABLE)
    assert IMAGE in st["message"] and "ErrImageNeverPull" in st["message"]
    assert st["finishedAt"]


def test_a_pull_back_off_fails_it_too_but_a_first_pull_error_is_given_its_retry() -> None:
    backoff = pod("p1", "Pending", waiting_reason="ImagePullBackOff")
    first_try = pod("p1", "Pending", waiting_reason="ErrImagePull")

    assert desired(job=job(active=1), pods=[backoff])["phase"] == "Failed"
    assert desired(job=job(active=1), pods=[first_try])["phase"] == "Pending"


def test_a_container_still_being_created_is_just_starting() -> None:
    creating = pod("p1", "Pending", waiting_reason="ContainerCreating")

    st = desired(job=job(active=1), pods=[creating])

    assert (st["phase"], st["reason"]) == ("Pending", "Starting")


def test_a_pod_being_deleted_does_not_fail_the_conversion() -> None:
    going = pod("p1", "Pending", waiting_reason="ErrImageNeverPull", deleting=True)

    assert desired(job=job(active=1), pods=[going])["phase"] == "Pending"


def test_a_converter_killed_for_its_memory_fails_with_a_reason_that_says_memory() -> None:
    attempts = [
        pod(f"p{i}", "Failed", created=f"2026-05-01T12:00:0{i}Z", exit_code=137, terminated_reason=OOM)
        for i in range(3)
    ]
    failed = job(outcome="Failed", reason="BackoffLimitExceeded", failed=3, finished_at=T0)

    st = desired(job=failed, pods=attempts, limits=OOM_LIMITS)

    assert (st["phase"], st["reason"]) == ("Failed", troubles.OUT_OF_MEMORY)
    assert "memory" in st["message"] and "24Mi" in st["message"] and "3 times" in st["message"]


def test_a_retry_after_an_oom_kill_says_memory_not_an_exit_code() -> None:
    killed = pod("p0", "Failed", exit_code=137, terminated_reason="OOMKilled")

    st = desired(job=job(active=0, failed=1), pods=[killed], limits=LIMITS)

    assert st["reason"] == "Retrying"
    assert "ran out of memory" in st["message"] and "137" not in st["message"]


def test_a_plain_sigkill_is_not_called_memory() -> None:
    killed = pod("p0", "Failed", exit_code=137, terminated_reason="Error")
    failed = job(outcome="Failed", reason="BackoffLimitExceeded", failed=1, finished_at=T0)

    st = desired(job=failed, pods=[killed])

    assert st["reason"] != troubles.OUT_OF_MEMORY and "memory" not in st["message"]
