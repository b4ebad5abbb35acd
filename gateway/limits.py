"""Per-user limits on uploads: a storage quota (bytes of videos and MP3s kept), jobs in flight
(not yet Succeeded, Failed or Cancelled) and uploads per hour.

Checked before one byte of an upload is read, each refusal a sentence naming the limit (429 for
the rates, 413 for the quota); the quota also bounds how much of this upload may be stored, so a
chunked body is cut where the user's remaining bytes end. The rule is the pure ``decide``; the
counting reads MongoDB and the API server.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

import anyio.to_thread
from fastapi import status
from pymongo.database import Database

from common.logs import kv
from common.phases import TERMINAL
from common.resources import MP3S_BUCKET, VIDEOS_BUCKET
from gateway.auth import User
from gateway.k8s import ConversionJobs, KubeError, KubeUnavailable
from gateway.settings import Settings
from gateway.uploads import FORM_OVERHEAD, Room, UploadRejected, human

log = logging.getLogger("gateway.limits")

HOUR = dt.timedelta(hours=1)
UPLOAD_LOG = "upload_log"  # one document per accepted upload of the last hour: {owner, at}


def _exceeded(status_code: int, detail: str, retry_after: int | None = None) -> UploadRejected:
    # answered before the body is read: closed after a short linger, like an oversized upload
    return UploadRejected(status_code, detail, close=True, retry_after=retry_after)


@dataclass(frozen=True)
class Usage:
    stored_bytes: int
    in_flight: int | None  # None: the API server could not be asked
    uploads_last_hour: int
    oldest_upload_age: dt.timedelta | None  # of those in the last hour


def decide(usage: Usage, settings: Settings, declared: int | None) -> Room:
    """How much one more upload may store, or UploadRejected naming the limit it would pass."""
    if settings.uploads_per_hour and usage.uploads_last_hour >= settings.uploads_per_hour:
        age = usage.oldest_upload_age or dt.timedelta(0)
        wait = max(1, math.ceil((HOUR - age).total_seconds()))
        raise _exceeded(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"You have uploaded {usage.uploads_last_hour} videos in the last hour; the limit is "
            f"{settings.uploads_per_hour} per hour. Try again in {wait} seconds.",
            retry_after=wait,
        )
    if settings.jobs_in_flight and usage.in_flight is not None and usage.in_flight >= settings.jobs_in_flight:
        raise _exceeded(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"You have {usage.in_flight} conversions in progress; the limit is {settings.jobs_in_flight} "
            "at once. Wait for one to finish (or cancel one) and upload again.",
            retry_after=30,
        )
    cap = settings.max_upload_bytes
    too_large = f"The video is larger than the limit of {human(cap)}."
    if declared is not None and declared > cap + FORM_OVERHEAD:  # over the cap whatever the quota
        raise _exceeded(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
    if settings.storage_quota_bytes:
        left = max(0, settings.storage_quota_bytes - usage.stored_bytes)
        quota = (
            f"Your storage quota is {human(settings.storage_quota_bytes)} (videos and MP3s) and "
            f"{human(usage.stored_bytes)} of it is used: delete jobs you no longer need to upload this video."
        )
        if left == 0 or (declared is not None and declared > left + FORM_OVERHEAD):
            raise _exceeded(status.HTTP_413_CONTENT_TOO_LARGE, quota)
        if left < cap:
            return Room(max_bytes=left, too_large=quota)
    return Room(max_bytes=cap, too_large=too_large)


class UserLimits:
    """Counts a user's usage and applies ``decide``."""

    def __init__(self, db: Database, conversion_jobs: ConversionJobs, settings: Settings) -> None:
        self._db = db
        self._conversion_jobs = conversion_jobs
        self._settings = settings

    async def room(self, user: User, declared: int | None) -> Room:
        """What this user may upload now (``declared``: the request's Content-Length, if any)."""
        stored, (recent, oldest) = await anyio.to_thread.run_sync(self._stored_and_recent, user.id)
        usage = Usage(stored, await self._in_flight(user.id), recent, oldest)
        try:
            return decide(usage, self._settings, declared)
        except UploadRejected as exc:
            log.info(kv(event="upload.limited", owner=user.id, status=exc.status_code, reason=exc.detail))
            raise

    def _stored_and_recent(self, owner: str) -> tuple[int, tuple[int, dt.timedelta | None]]:
        stored = 0
        for bucket in (VIDEOS_BUCKET, MP3S_BUCKET):
            for doc in self._db[f"{bucket}.files"].find({"metadata.owner": owner}, {"length": 1}):
                stored += int(doc.get("length") or 0)
        now = dt.datetime.now(dt.UTC)
        log_ = self._db[UPLOAD_LOG]
        log_.delete_many({"owner": owner, "at": {"$lt": _naive(now - HOUR)}})
        times = [doc["at"] for doc in log_.find({"owner": owner}, {"at": 1})]
        oldest = now - min(times).replace(tzinfo=dt.UTC) if times else None
        return stored, (len(times), oldest)

    async def note_upload(self, user: User) -> None:
        """Count an accepted upload against the hourly limit (kept apart from the job records:
        deleting a job must not give its upload back)."""
        if self._settings.uploads_per_hour:
            now = _naive(dt.datetime.now(dt.UTC))
            await anyio.to_thread.run_sync(
                lambda: self._db[UPLOAD_LOG].insert_one({"owner": user.id, "at": now})
            )

    async def _in_flight(self, owner: str) -> int | None:
        if not self._settings.jobs_in_flight:
            return None
        try:
            resources = await self._conversion_jobs.list_owned(owner)
        except (KubeUnavailable, KubeError) as exc:
            # the upload path works without the API server (the event carries it): so does this
            log.warning(kv(event="limits.in_flight_unknown", owner=owner, error=exc))
            return None
        return sum(1 for r in resources if (r.get("status") or {}).get("phase") not in TERMINAL)


def _naive(moment: dt.datetime) -> dt.datetime:
    """UTC without tzinfo, as pymongo returns stored dates (so comparisons agree)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None)
