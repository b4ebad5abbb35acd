"""A job as the REST API shows it: its record merged with its ConversionJob's status (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gateway.schemas import Job


class Unknown:
    """Stands for a ConversionJob the API server could not be asked about."""


UNKNOWN = Unknown()
# what we know of a job's ConversionJob: the resource, None (it does not exist yet) or UNKNOWN
Resource = Mapping[str, Any] | Unknown | None


def job_view(record: Mapping[str, Any], resource: Resource, base_url: str) -> Job:
    """The API's view of a job: its record merged with its ConversionJob's status."""
    job_id = str(record["_id"])
    url = f"{base_url}/jobs/{job_id}"
    fields: dict[str, Any] = {
        "id": job_id,
        "url": url,
        "filename": record["filename"],
        "size": record["size"],
        "sha256": record["sha256"],
        "created": _aware(record["created"]),
        "options": record.get("options", {}),
    }
    if record.get("reused"):
        return _reused(record, fields, url)
    if isinstance(resource, Unknown):
        fields.update(phase="Unknown", message="The job's status cannot be read right now; try again soon.")
        return Job.model_validate(fields)
    status = (resource.get("status") or {}) if resource is not None else {}
    fields.update(status_fields(status, url))
    if resource is None:
        fields["message"] = "Accepted; waiting for the operator to start the conversion."
    return Job.model_validate(fields)


def status_fields(status: Mapping[str, Any], url: str) -> dict[str, Any]:
    """What a job's view takes from its ConversionJob's status (``url``: the job's own)."""
    phase = status.get("phase") or "Pending"
    return {
        "phase": phase,
        "progress": int(status.get("progress") or (100 if phase == "Succeeded" else 0)),
        "reason": status.get("reason"),
        "message": status.get("message") or ("Waiting to start." if phase == "Pending" else None),
        "startedAt": status.get("startedAt"),
        "finishedAt": status.get("finishedAt"),
        "duration": status.get("duration"),
        "attempts": status.get("attempts"),
        "audioSeconds": status.get("audioSeconds"),
        "mp3Size": status.get("mp3Size"),
        "audioFormat": status.get("audioFormat"),
        "audioCopied": status.get("audioCopied"),
        "inputLoudness": status.get("inputLoudness"),
        "download": f"{url}/mp3" if phase == "Succeeded" else None,
        "queue": status.get("queue"),  # the operator's admission: {"position", "reason", "message"}
        "expiresAt": status.get("expiresAt"),
        "retries": status.get("series"),
    }


def _reused(record: Mapping[str, Any], fields: dict[str, Any], url: str) -> Job:
    """A job answered with an earlier job's MP3 (same bytes, same options): Succeeded at once."""
    reused = record["reused"]
    fields.update(
        phase="Succeeded",
        progress=100,
        reason="Reused",
        message=f"The same video was converted with the same options before (job {reused['from']}); "
        "its MP3 is yours at once.",
        finishedAt=fields["created"],
        attempts=0,
        audioSeconds=reused.get("audioSeconds"),
        mp3Size=reused.get("mp3Size"),
        download=f"{url}/mp3",
        expiresAt=reused.get("expiresAt"),
        reusedFrom=reused["from"],
    )
    return Job.model_validate(fields)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # BSON dates come back naive
