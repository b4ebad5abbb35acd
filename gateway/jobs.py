"""Jobs as the REST API knows them: a small record per job in MongoDB (who owns it, what was
uploaded, when) merged with the ConversionJob's status from Kubernetes.

The record is written before the ConversionJob is created, so ownership is known even while the
resource does not exist yet (API server down: the operator creates it from the event).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from pymongo.collection import Collection
from pymongo.database import Database

from common import events
from common.logs import kv
from common.resources import (
    FINALIZER,
    MP3S_BUCKET,
    VIDEOS_BUCKET,
    conversion_job,
    conversion_job_labels,
    job_name,
    video_id_of,
)
from gateway.auth import User
from gateway.events import Publisher, PublishFailed
from gateway.k8s import AlreadyExists, ConversionJobs, KubeError, KubeUnavailable
from gateway.options import conversion_spec
from gateway.schemas import Job
from gateway.storage import StoredFile, delete_file, find_file
from gateway.uploads import ReceivedUpload

log = logging.getLogger("gateway.jobs")

JOBS_COLLECTION = "jobs"


class NotFound(Exception):
    """No such job for this user (whether it exists for another is never told)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"No job with id {job_id}.")


class Unavailable(Exception):
    """A server the request needs cannot be reached; the message says what to do."""


class Refused(Exception):
    """Kubernetes refused the job as specified (the input's fault)."""


class NotReady(Exception):
    """The job has no MP3 (yet, or ever); the message says why."""


# -- the record ---------------------------------------------------------------------------------


class JobRecords:
    def __init__(self, db: Database) -> None:
        self._c: Collection = db[JOBS_COLLECTION]

    def ensure_indexes(self) -> None:
        self._c.create_index([("owner", pymongo.ASCENDING), ("created", pymongo.DESCENDING)])

    def insert(self, record: Mapping[str, Any]) -> None:
        self._c.insert_one(dict(record))

    def owned(self, job_id: str, owner: str) -> dict[str, Any] | None:
        if video_id_of(job_id) is None:
            return None
        return self._c.find_one({"_id": job_id, "owner": owner})

    def page(self, owner: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        cursor = self._c.find({"owner": owner}).sort([("created", -1), ("_id", -1)]).skip(offset).limit(limit)
        return list(cursor), self._c.count_documents({"owner": owner})

    def delete(self, job_id: str) -> None:
        self._c.delete_one({"_id": job_id})


def new_record(user: User, upload: ReceivedUpload) -> dict[str, Any]:
    return {
        "_id": job_name(str(upload.video.id)),
        "owner": user.id,
        "email": user.email,
        "videoId": str(upload.video.id),
        "filename": upload.filename,
        "size": upload.video.length,
        "sha256": upload.video.metadata["sha256"],
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0),
        "options": upload.options.public(),
    }


# -- the view -----------------------------------------------------------------------------------


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
    if isinstance(resource, Unknown):
        fields.update(phase="Unknown", message="The job's status cannot be read right now; try again soon.")
        return Job.model_validate(fields)
    status = (resource.get("status") or {}) if resource is not None else {}
    phase = status.get("phase") or "Pending"
    message: str | None
    if resource is None:
        message = "Accepted; waiting for the operator to start the conversion."
    else:
        message = status.get("message") or ("Waiting to start." if phase == "Pending" else None)
    fields.update(
        phase=phase,
        progress=int(status.get("progress") or (100 if phase == "Succeeded" else 0)),
        reason=status.get("reason"),
        message=message,
        startedAt=status.get("startedAt"),
        finishedAt=status.get("finishedAt"),
        duration=status.get("duration"),
        attempts=status.get("attempts"),
        audioSeconds=status.get("audioSeconds"),
        mp3Size=status.get("mp3Size"),
        download=f"{url}/mp3" if phase == "Succeeded" else None,
    )
    return Job.model_validate(fields)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # BSON dates come back naive


# -- what the routes do -------------------------------------------------------------------------


@dataclass
class JobService:
    db: Database
    records: JobRecords
    resources: ConversionJobs
    publisher: Publisher
    base_url: str

    async def submit(self, user: User, upload: ReceivedUpload) -> Job:
        """Record the job, create its ConversionJob and publish ``conversion.requested``.

        Accepted if either the resource or the event got through (the operator creates the
        resource from the event); if neither did, nothing is kept and Unavailable is raised."""
        record = new_record(user, upload)
        name = record["_id"]
        spec = conversion_spec(
            video_id=str(upload.video.id),
            filename=upload.filename,
            size=upload.video.length,
            sha256=record["sha256"],
            user_id=user.id,
            email=user.email,
            options=upload.options,
        )
        try:
            await anyio.to_thread.run_sync(self.records.insert, record)
        except pymongo.errors.PyMongoError as exc:
            await self._forget(name, upload.video.id)
            raise Unavailable("The database is unreachable; nothing was stored. Try again.") from exc
        resource = await self._create_resource(name, spec, user, upload)
        event = events.ConversionRequested(
            event_id=events.requested_event_id(self.resources.namespace, name),
            job=events.JobRef(
                name=name,
                namespace=self.resources.namespace,
                uid=(resource or {}).get("metadata", {}).get("uid"),
            ),
            owner=events.Owner(user_id=user.id, email=user.email),
            spec=spec,
            labels=conversion_job_labels(user.id),
        )
        try:
            await anyio.to_thread.run_sync(self.publisher.publish, event)
        except PublishFailed as exc:
            if resource is None:
                log.error(kv(event="job.lost_both_paths", job=name, error=exc))
                await self._forget(name, upload.video.id)
                raise Unavailable(
                    "Neither Kubernetes nor the message broker can be reached; nothing was stored. Try again."
                ) from exc
            log.warning(kv(event="job.event_not_published", job=name, error=exc))
        log.info(kv(event="job.accepted", job=name, owner=user.id, via="resource" if resource else "event"))
        return job_view(record, resource, self.base_url)

    async def _create_resource(
        self, name: str, spec: dict[str, Any], user: User, upload: ReceivedUpload
    ) -> dict[str, Any] | None:
        body = conversion_job(name, self.resources.namespace, spec, conversion_job_labels(user.id))
        try:
            return await self.resources.create(body)
        except AlreadyExists:
            return await self.resources.get(name)
        except KubeUnavailable as exc:
            log.warning(kv(event="job.resource_deferred", job=name, error=exc))
            return None
        except KubeError as exc:
            if exc.status == 422:  # our validation missed something the schema checks
                await self._forget(name, upload.video.id)
                raise Refused(f"The job was refused: {exc.message}") from exc
            log.error(kv(event="job.resource_refused", job=name, status=exc.status, error=exc.message))
            return None  # e.g. RBAC broken: the operator can still create it from the event

    async def _forget(self, name: str, video_id: Any) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(delete_file, self.db, VIDEOS_BUCKET, video_id)
            try:
                await anyio.to_thread.run_sync(self.records.delete, name)
            except pymongo.errors.PyMongoError:
                log.warning(kv(event="job.record_not_deleted", job=name))

    async def get(self, user: User, job_id: str) -> Job:
        record = await self._owned(user, job_id)
        return job_view(record, await self._resource_or_unknown(job_id), self.base_url)

    async def page(self, user: User, limit: int, offset: int) -> tuple[list[Job], int]:
        records, total = await anyio.to_thread.run_sync(self.records.page, user.id, limit, offset)
        by_name: dict[str, Any] | None
        try:
            by_name = {r["metadata"]["name"]: r for r in await self.resources.list_owned(user.id)}
        except KubeUnavailable:
            by_name = None
        views = [
            job_view(rec, UNKNOWN if by_name is None else by_name.get(rec["_id"]), self.base_url)
            for rec in records
        ]
        return views, total

    async def delete(self, user: User, job_id: str) -> None:
        """Delete the ConversionJob: the operator's finalizer removes its Job and both files.
        Without a resource, or one the operator had not yet put its finalizer on, the files are
        removed here. Then the record: the job is gone for the API at once."""
        record = await self._owned(user, job_id)
        try:
            deleted = await self.resources.delete(job_id)
        except KubeUnavailable as exc:
            raise Unavailable("Kubernetes cannot be reached to cancel the job; try again.") from exc
        finalized = deleted is not None and FINALIZER in (deleted.get("metadata", {}).get("finalizers") or [])
        if not finalized:
            await anyio.to_thread.run_sync(delete_file, self.db, VIDEOS_BUCKET, _video_oid(record))
            mp3 = await anyio.to_thread.run_sync(
                find_file, self.db, MP3S_BUCKET, {"metadata.job": job_id, "metadata.owner": user.id}
            )
            if mp3 is not None:
                await anyio.to_thread.run_sync(delete_file, self.db, MP3S_BUCKET, mp3.id)
        await anyio.to_thread.run_sync(self.records.delete, job_id)
        log.info(kv(event="job.deleted", job=job_id, owner=user.id, finalizer=finalized))

    async def mp3(self, user: User, job_id: str) -> tuple[StoredFile, str]:
        """The MP3 and its original video's name; NotReady while there is none."""
        record = await self._owned(user, job_id)
        resource = await self._resource_or_unknown(job_id)
        query: dict[str, Any] = {"metadata.job": job_id, "metadata.owner": user.id}
        if isinstance(resource, Mapping):
            status = resource.get("status") or {}
            phase = status.get("phase") or "Pending"
            if phase != "Succeeded":
                raise NotReady(_not_ready_message(phase, status))
            if status.get("mp3Id"):
                query = {"_id": _oid(status["mp3Id"]), "metadata.owner": user.id}
        elif resource is None:
            raise NotReady(_not_ready_message("Pending", {}))
        # else: Kubernetes is unreachable; the MP3, if any, is found by its metadata
        file = await anyio.to_thread.run_sync(find_file, self.db, MP3S_BUCKET, query)
        if file is None:
            raise NotReady("The job has no MP3 stored (it may have been removed).")
        return file, str(record["filename"])

    async def _owned(self, user: User, job_id: str) -> dict[str, Any]:
        try:
            record = await anyio.to_thread.run_sync(self.records.owned, job_id, user.id)
        except pymongo.errors.PyMongoError as exc:
            raise Unavailable("The database is unreachable; try again.") from exc
        if record is None:
            raise NotFound(job_id)
        return record

    async def _resource_or_unknown(self, job_id: str) -> Resource:
        try:
            return await self.resources.get(job_id)
        except KubeUnavailable:
            return UNKNOWN


def _not_ready_message(phase: str, status: Mapping[str, Any]) -> str:
    if phase == "Failed":
        return f"The conversion failed, so there is no MP3: {status.get('message') or 'no reason given'}"
    if phase == "Cancelled":
        return "The job was cancelled, so there is no MP3."
    progress = status.get("progress")
    return f"The job is {phase}{f' ({progress}%)' if progress else ''}; the MP3 is not ready yet."


def _oid(value: str) -> Any:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return value


def _video_oid(record: Mapping[str, Any]) -> Any:
    return _oid(str(record["videoId"]))
