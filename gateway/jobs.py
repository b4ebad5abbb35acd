"""What the job routes do: submit an upload (record, ConversionJob, ``conversion.requested``),
read, list, delete, retry and download jobs, and the errors that say why one cannot.

Dedupe: a video's bytes are stored once per owner (a second upload of the same sha256 reuses the
stored copy), and an upload whose bytes and output options match a Succeeded job of the same
owner gets that MP3 at once (``reason: Reused``, no ConversionJob) unless ``fresh`` is asked.

The record is kept by records.py, the API's view of a job built by views.py.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from pymongo.database import Database

from common import events
from common.logs import kv
from common.resources import (
    FINALIZER,
    MP3S_BUCKET,
    RETRY_ANNOTATION,
    VIDEOS_BUCKET,
    conversion_job,
    conversion_job_labels,
)
from gateway.auth import User
from gateway.events import Publisher, PublishFailed
from gateway.k8s import AlreadyExists, ConversionJobs, KubeError, KubeUnavailable
from gateway.options import conversion_spec
from gateway.records import JobRecords, new_record
from gateway.schemas import Job
from gateway.storage import StoredFile, delete_file, find_file, keep_copy
from gateway.uploads import ReceivedUpload
from gateway.views import UNKNOWN, Resource, Unknown, job_view

log = logging.getLogger("gateway.jobs")


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


class Conflict(Exception):
    """The job is not in a state that allows this (e.g. a retry of a Succeeded job)."""


@dataclass
class JobService:
    db: Database
    records: JobRecords
    resources: ConversionJobs
    publisher: Publisher
    base_url: str

    async def submit(self, user: User, upload: ReceivedUpload, fresh: bool = False) -> Job:
        """Record the job, create its ConversionJob and publish ``conversion.requested``; or, for
        bytes and options converted before (unless ``fresh``), answer with that MP3 at once.

        Accepted if either the resource or the event got through (the operator creates the
        resource from the event); if neither did, nothing is kept and Unavailable is raised."""
        stored = await anyio.to_thread.run_sync(self._stored_copy, user, upload.video)
        record = new_record(user, upload, stored)
        if not fresh and (reused := await self._reuse(user, record, upload.video, stored)) is not None:
            return reused
        name = record["_id"]
        own_video = None if stored else upload.video.id  # what _forget may delete
        spec = conversion_spec(
            video_id=str(record["videoId"]),
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
            await self._forget(name, own_video)
            raise Unavailable("The database is unreachable; nothing was stored. Try again.") from exc
        resource = await self._create_resource(name, spec, user, own_video)
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
                await self._forget(name, own_video)
                raise Unavailable(
                    "Neither Kubernetes nor the message broker can be reached; nothing was stored. Try again."
                ) from exc
            log.warning(kv(event="job.event_not_published", job=name, error=exc))
        log.info(kv(event="job.accepted", job=name, owner=user.id, via="resource" if resource else "event"))
        return job_view(record, resource, self.base_url)

    def _stored_copy(self, user: User, video: StoredFile) -> str | None:
        """The id of this owner's kept copy of the same bytes, if it is not this one; the new
        copy is then deleted (a video is stored once per owner, see ``storage.keep_copy``)."""
        kept = keep_copy(self.db, video)
        if kept == video.id:
            return None
        delete_file(self.db, VIDEOS_BUCKET, video.id)
        log.info(kv(event="upload.deduplicated", video=video.id, kept=kept, owner=user.id))
        return str(kept)

    async def _reuse(
        self, user: User, record: dict[str, Any], video: StoredFile, stored: str | None
    ) -> Job | None:
        """The MP3 of an earlier Succeeded job with the same bytes and options, as a new job that
        is Succeeded at once (no ConversionJob, no conversion); None if there is none."""
        candidates = await anyio.to_thread.run_sync(self.records.reusable, user.id, record["dedupeKey"])
        for earlier in candidates:
            resource = await self._resource_or_unknown(earlier["_id"])
            st = (resource.get("status") or {}) if isinstance(resource, Mapping) else {}
            if st.get("phase") != "Succeeded" or not st.get("mp3Id"):
                continue
            query = {"_id": _oid(st["mp3Id"]), "metadata.owner": user.id}
            if await anyio.to_thread.run_sync(find_file, self.db, MP3S_BUCKET, query) is None:
                continue
            record["reusedFrom"] = earlier["_id"]
            record["reused"] = {
                "from": earlier["_id"],
                **{k: st.get(k) for k in ("mp3Id", "mp3Size", "audioSeconds", "expiresAt")},
            }
            await anyio.to_thread.run_sync(self.records.insert, record)
            if stored is None:  # the new copy is not needed: the MP3 exists
                await anyio.to_thread.run_sync(delete_file, self.db, VIDEOS_BUCKET, video.id)
            log.info(kv(event="job.reused", job=record["_id"], earlier=earlier["_id"], owner=user.id))
            return job_view(record, None, self.base_url)
        return None

    async def _create_resource(
        self, name: str, spec: dict[str, Any], user: User, own_video: Any
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
                await self._forget(name, own_video)
                raise Refused(f"The job was refused: {exc.message}") from exc
            log.error(kv(event="job.resource_refused", job=name, status=exc.status, error=exc.message))
            return None  # e.g. RBAC broken: the operator can still create it from the event

    async def _forget(self, name: str, video_id: Any) -> None:
        """Undo an upload: its record, and its video unless that is a copy another job uses (None)."""
        with anyio.CancelScope(shield=True):
            if video_id is not None:
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
        if record.get("reused"):  # no resource, no file of its own: the MP3 is the earlier job's
            await anyio.to_thread.run_sync(self.records.delete, job_id)
            log.info(kv(event="job.deleted", job=job_id, owner=user.id, reused=True))
            return
        try:
            deleted = await self.resources.delete(job_id)
        except KubeUnavailable as exc:
            raise Unavailable("Kubernetes cannot be reached to cancel the job; try again.") from exc
        finalized = deleted is not None and FINALIZER in (deleted.get("metadata", {}).get("finalizers") or [])
        shared = await anyio.to_thread.run_sync(self.records.video_shared, str(record["videoId"]), job_id)
        if not finalized and not shared:
            await anyio.to_thread.run_sync(delete_file, self.db, VIDEOS_BUCKET, _video_oid(record))
        if not finalized:
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
        if record.get("reused"):
            resource: Resource = {"status": {"phase": "Succeeded", "mp3Id": record["reused"]["mp3Id"]}}
        else:
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

    async def retry(self, user: User, job_id: str) -> Job:
        """Ask the operator to run a Failed job again (the ``mp4mp3.io/retry`` annotation, a new
        token each time); Conflict unless it is Failed."""
        record = await self._owned(user, job_id)
        if record.get("reused"):
            raise Conflict("This job reused the MP3 of an earlier one; there is nothing to retry.")
        resource = await self._resource_or_unknown(job_id)
        if isinstance(resource, Unknown):
            raise Unavailable("Kubernetes cannot be reached to retry the job; try again.")
        phase = ((resource or {}).get("status") or {}).get("phase") or "Pending"
        if phase != "Failed":
            raise Conflict(f"Only a failed job can be retried; this one is {phase}.")
        try:
            patched = await self.resources.annotate(job_id, RETRY_ANNOTATION, secrets.token_hex(8))
        except KubeUnavailable as exc:
            raise Unavailable("Kubernetes cannot be reached to retry the job; try again.") from exc
        if patched is None:
            raise NotFound(job_id)
        log.info(kv(event="job.retry_requested", job=job_id, owner=user.id))
        message = "Retry requested; the conversion starts again with the stored video."
        view = job_view(record, patched, self.base_url)
        return view.model_copy(update={"phase": "Pending", "reason": "RetryRequested", "message": message})

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
