"""The events on the wire (RabbitMQ, topic exchange ``mp4mp3.events``): schema and routing keys.

Every body is JSON with ``schema`` (a version) and ``event_id`` (stable per fact, so consumers can
de-duplicate: the same outcome of the same job always has the same id).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 1
REQUESTED: Final = "conversion.requested"
SUCCEEDED: Final = "conversion.succeeded"
FAILED: Final = "conversion.failed"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Owner(BaseModel):
    user_id: str
    email: str


class JobRef(BaseModel):
    name: str
    namespace: str
    uid: str | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = Field(default=SCHEMA_VERSION, alias="schema")  # default= keeps mypy aware
    event_id: str
    occurred_at: dt.datetime = Field(default_factory=_now)
    job: JobRef
    owner: Owner

    def body(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class ConversionRequested(_Event):
    """A video was accepted; carries the whole ConversionJob spec so the operator can create the
    resource itself if the gateway could not (API server down)."""

    type: Literal["conversion.requested"] = REQUESTED
    spec: dict  # the ConversionJob's spec, as the gateway built it
    labels: dict[str, str] = {}


class _Outcome(_Event):
    """What both outcomes carry: the file's name, and how the owner asked to be told (``spec.notify``:
    an email unless turned off, and a callback URL of the job's own besides their webhooks)."""

    source_filename: str
    notify_email: bool = True
    callback_url: str | None = None


class ConversionSucceeded(_Outcome):
    type: Literal["conversion.succeeded"] = SUCCEEDED
    mp3_id: str
    mp3_size: int | None = None
    audio_seconds: float | None = None
    audio_format: str = "mp3"  # common.formats: mp3, m4a, opus, flac (older events: mp3)


class ConversionFailed(_Outcome):
    type: Literal["conversion.failed"] = FAILED
    reason: str  # CamelCase, e.g. NoAudioStream
    message: str  # a sentence a user understands


Event = Annotated[ConversionRequested | ConversionSucceeded | ConversionFailed, Field(discriminator="type")]
_adapter: TypeAdapter[Event] = TypeAdapter(Event)


def parse(body: bytes) -> ConversionRequested | ConversionSucceeded | ConversionFailed:
    """Parse a message body; raises ``pydantic.ValidationError`` on anything malformed."""
    return _adapter.validate_json(body)


def outcome_event_id(job_uid: str, outcome: str) -> str:
    """Stable id of a job's outcome event: replays of the same outcome share it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mp4mp3:{job_uid}:{outcome}"))


def requested_event_id(namespace: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mp4mp3:{namespace}/{name}:requested"))
