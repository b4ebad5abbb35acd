"""The REST API's response bodies, with the examples the OpenAPI document shows."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Phase = Literal["Queued", "Pending", "Running", "Succeeded", "Failed", "Cancelled", "Unknown"]

JOB_EXAMPLE: dict[str, Any] = {
    "id": "cj-6743c0ffee0123456789abcd",
    "url": "https://mp4mp3.example.com/jobs/cj-6743c0ffee0123456789abcd",
    "filename": "holiday.mp4",
    "size": 73400320,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "created": "2026-11-24T10:15:00Z",
    "options": {"bitrate": "192k", "channels": 2, "engine": "ffmpeg", "notifyEmail": True},
    "phase": "Succeeded",
    "progress": 100,
    "reason": "Converted",
    "message": "The MP3 is ready.",
    "startedAt": "2026-11-24T10:15:01Z",
    "finishedAt": "2026-11-24T10:15:09Z",
    "duration": "8s",
    "attempts": 1,
    "audioSeconds": 612.4,
    "mp3Size": 14698560,
    "audioFormat": "mp3",
    "audioCopied": False,
    "download": "https://mp4mp3.example.com/jobs/cj-6743c0ffee0123456789abcd/mp3",
}


class QueuePlace(BaseModel):
    """Where a Queued job stands in the admission queue."""

    position: int = Field(description="1: admitted next")
    reason: str = Field(description="ClusterCapReached, UserCapReached or NextInLine")
    message: str | None = None


class Job(BaseModel):
    """A conversion as its owner sees it: what was uploaded, how far it is, where the MP3 is."""

    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [JOB_EXAMPLE]})

    id: str = Field(description="The job's id (the ConversionJob's name)")
    url: str = Field(description="This job's URL")
    filename: str = Field(description="The uploaded file's name")
    size: int = Field(description="The video's size in bytes")
    sha256: str = Field(description="SHA-256 of the video as stored")
    created: dt.datetime
    options: dict[str, Any] = Field(description="Output options as sent (form-field names)")
    phase: Phase = Field(
        description="Queued (waiting for a free conversion slot), Pending, Running, Succeeded, Failed "
        "or Cancelled; Unknown while Kubernetes cannot be asked"
    )
    progress: int = Field(0, ge=0, le=100, description="Percent of the audio converted")
    reason: str | None = Field(None, description="CamelCase reason of the latest transition")
    message: str | None = Field(None, description="The latest word on the job, a sentence")
    started_at: dt.datetime | None = Field(None, alias="startedAt")
    finished_at: dt.datetime | None = Field(None, alias="finishedAt")
    duration: str | None = Field(None, description="Wall time of the conversion, e.g. 8s")
    attempts: int | None = None
    audio_seconds: float | None = Field(None, alias="audioSeconds")
    mp3_size: int | None = Field(None, alias="mp3Size", description="Size of the audio file in bytes")
    audio_format: str | None = Field(
        None, alias="audioFormat", description="mp3, m4a, opus or flac, once made"
    )
    audio_copied: bool | None = Field(
        None,
        alias="audioCopied",
        description="True when the video's AAC went into the M4A without re-encoding",
    )
    input_loudness: float | None = Field(
        None, alias="inputLoudness", description="The video's loudness in LUFS, when normalised"
    )
    download: str | None = Field(None, description="The audio file's URL, once Succeeded")
    queue: QueuePlace | None = Field(None, description="While Queued: the job's place and why it waits")
    expires_at: dt.datetime | None = Field(
        None, alias="expiresAt", description="When the finished job, its video and MP3 are removed"
    )
    retries: int | None = Field(None, description="Times the job was retried (POST /jobs/{id}/retry)")
    reused_from: str | None = Field(
        None, alias="reusedFrom", description="The earlier job whose MP3 this one reuses (reason Reused)"
    )


class JobPage(BaseModel):
    """The caller's jobs, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [JOB_EXAMPLE],
                    "total": 41,
                    "limit": 1,
                    "offset": 0,
                    "next": "https://mp4mp3.example.com/jobs?limit=1&offset=1",
                }
            ]
        }
    )

    items: list[Job]
    total: int = Field(description="How many jobs the caller has in all")
    limit: int
    offset: int
    next: str | None = Field(None, description="URL of the next page, if any")


class Problem(BaseModel):
    """Every error: a sentence saying what went wrong and what to do."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "No job with id cj-0123."}]})

    detail: str


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str


class Check(BaseModel):
    ok: bool
    ms: float
    error: str | None = None


class Readiness(BaseModel):
    """``ready``: everything answers; ``degraded``: Kubernetes or RabbitMQ is down but uploads are
    still accepted (the other carries the request); ``unready``: uploads cannot be accepted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "degraded",
                    "checks": {
                        "mongo": {"ok": True, "ms": 1.2},
                        "rabbitmq": {"ok": True, "ms": 0.8},
                        "kubernetes": {"ok": False, "ms": 3001.0, "error": "the API server is unreachable"},
                    },
                }
            ]
        }
    )

    status: Literal["ready", "degraded", "unready"]
    checks: dict[str, Check]


class Token(BaseModel):
    """What auth's POST /login answers (proxied unchanged)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJSUzI1NiIs...",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "refresh_token": "4f1c...e2.Xq3...",
                    "refresh_expires_in": 2592000,
                }
            ]
        },
    )

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error codes a route can answer."""
    text = {
        400: "The request body is malformed",
        401: "No valid bearer token",
        404: "No such job (or not yours: the same answer)",
        408: "The upload stalled (nothing arrived for a while); the connection is closed",
        409: "The job is not in a state that allows this",
        413: "The video is larger than the limit or your storage quota; answered at once, connection closed",
        415: "Not multipart/form-data, or the file is not an MP4 (ISO-BMFF) video",
        416: "The range is outside the file",
        422: "Empty file, missing 'file' part, or an invalid option",
        429: "Too many uploads this hour or conversions in progress; see Retry-After",
        502: "The auth service answered something unusable",
        503: "A service the gateway needs is unreachable; try again",
    }
    return {code: {"model": Problem, "description": text[code]} for code in codes}
