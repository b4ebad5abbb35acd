"""A job as the API shows it: the record merged with the ConversionJob's status."""

from __future__ import annotations

import datetime as dt
from typing import Any

from common.resources import FINALIZER, OWNER_LABEL, conversion_job, conversion_job_labels
from gateway.views import UNKNOWN, job_view

BASE = "https://mp4mp3.example.com"
RECORD: dict[str, Any] = {
    "_id": "cj-6743c0ffee0123456789abcd",
    "owner": "42",
    "filename": "a.mp4",
    "size": 10,
    "sha256": "0" * 64,
    "created": dt.datetime(2026, 11, 24, 10, 0, 0),  # BSON dates come back naive (UTC)
    "options": {"bitrate": "192k"},
}


def test_a_job_without_its_resource_yet_is_pending_for_the_operator() -> None:
    job = job_view(RECORD, None, BASE)
    assert job.phase == "Pending" and job.progress == 0
    assert job.message is not None and "waiting for the operator" in job.message
    assert job.url == f"{BASE}/jobs/cj-6743c0ffee0123456789abcd"
    assert job.created.tzinfo is dt.UTC
    assert job.download is None


def test_a_resource_without_status_is_waiting_to_start() -> None:
    job = job_view(RECORD, {"metadata": {}}, BASE)
    assert (job.phase, job.message) == ("Pending", "Waiting to start.")


def test_status_fields_are_merged() -> None:
    status = {
        "phase": "Succeeded",
        "progress": 100,
        "reason": "Converted",
        "message": "The MP3 is ready.",
        "startedAt": "2026-11-24T10:00:01Z",
        "finishedAt": "2026-11-24T10:00:09Z",
        "duration": "8s",
        "attempts": 1,
        "audioSeconds": 12.5,
        "mp3Size": 200000,
        "mp3Id": "abc",
    }
    job = job_view(RECORD, {"status": status}, BASE)
    dumped = job.model_dump(by_alias=True, mode="json")
    assert dumped["phase"] == "Succeeded" and dumped["download"] == f"{BASE}/jobs/{RECORD['_id']}/mp3"
    assert dumped["finishedAt"] == "2026-11-24T10:00:09Z" and dumped["mp3Size"] == 200000
    assert "mp3Id" not in dumped  # internal


def test_a_failed_job_says_why_and_has_no_download() -> None:
    status = {
        "phase": "Failed",
        "reason": "NoAudioStream",
        "message": "The video has no audio track to convert.",
    }
    job = job_view(RECORD, {"status": status}, BASE)
    assert (job.phase, job.reason, job.download) == ("Failed", "NoAudioStream", None)
    assert job.message == "The video has no audio track to convert."


def test_unknown_status_while_kubernetes_cannot_be_asked() -> None:
    job = job_view(RECORD, UNKNOWN, BASE)
    assert job.phase == "Unknown" and job.message is not None and "cannot be read" in job.message


def test_the_resource_carries_owner_label_and_the_operators_finalizer() -> None:
    body = conversion_job("cj-1", "mp4mp3", {"source": {}}, conversion_job_labels("42"))
    assert body["apiVersion"] == "mp4mp3.io/v1alpha1" and body["kind"] == "ConversionJob"
    assert body["metadata"]["labels"][OWNER_LABEL] == "42"
    assert body["metadata"]["finalizers"] == [FINALIZER]
    assert body["metadata"]["namespace"] == "mp4mp3"
