"""Retention: a finished ConversionJob, its Job, video and MP3 are removed after a period.

The period is the operator's ``retention_seconds``, or the job's ``spec.retentionSeconds`` held
within ``retention_min_seconds``..``retention_max_seconds``; counted from ``finishedAt``. The video
may go earlier (``video_retention_seconds``): the MP3 stays downloadable. ``status.expiresAt``
says when the job goes (the API shows it). Removal is deleting the ConversionJob: its finalizer
(reconcile.py) deletes the Job and both files, as for a user's delete; before that the gateway's
record of the job, so the API forgets it too. An Event says so on the ConversionJob.

Pure functions first (expiry times from spec, status and settings), then the sweep (I/O), run by
a Kopf timer on settled ConversionJobs (handlers.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from common.logs import kv
from common.phases import TERMINAL
from conversion_operator.files import Files
from conversion_operator.k8s import Kube
from conversion_operator.settings import Settings
from conversion_operator.times import iso, parse_time

log = logging.getLogger("operator.retention")
EXPIRE_AFTER = 0.5  # seconds between the timer's call returning and the deletion


def retention_seconds(spec: Mapping[str, Any], settings: Settings) -> int:
    """The job's own period, within the bounds, else the operator's."""
    asked = spec.get("retentionSeconds")
    if asked is None:
        return settings.retention_seconds
    return max(settings.retention_min_seconds, min(int(asked), settings.retention_max_seconds))


def expires_at(
    spec: Mapping[str, Any], status: Mapping[str, Any], settings: Settings, now: dt.datetime
) -> str | None:
    """When a finished job is removed (None while it is not finished)."""
    if status.get("phase") not in TERMINAL:
        return None
    finished = parse_time(status["finishedAt"]) if status.get("finishedAt") else now
    return iso(finished + dt.timedelta(seconds=retention_seconds(spec, settings)))


def video_due(status: Mapping[str, Any], settings: Settings, now: dt.datetime) -> bool:
    """Is it time to drop a finished job's video before the job itself?"""
    if settings.video_retention_seconds is None or status.get("videoRemovedAt"):
        return False
    if status.get("phase") not in TERMINAL or not status.get("finishedAt"):
        return False
    return parse_time(status["finishedAt"]) + dt.timedelta(seconds=settings.video_retention_seconds) <= now


def due(status: Mapping[str, Any], now: dt.datetime) -> bool:
    return bool(status.get("expiresAt")) and parse_time(status["expiresAt"]) <= now


class Retention:
    def __init__(self, settings: Settings, kube: Kube, files: Files) -> None:
        self.settings, self.kube, self.files = settings, kube, files
        self._expiring: dict[str, asyncio.Task[None]] = {}  # uid -> its deletion, under way

    async def _expire(self, namespace: str, name: str, uid: str) -> None:
        try:
            await asyncio.sleep(EXPIRE_AFTER)
            await self.kube.delete_conversionjob(namespace, name, uid)
        except Exception as exc:  # the next timer call tries again
            log.warning(kv(job=name, event="job.expiry_failed", error=repr(exc)))
        finally:
            self._expiring.pop(uid, None)

    async def sweep(self, body: kopf.Body, now: dt.datetime) -> None:
        """Drop the video or remove the whole job, whichever is due."""
        meta, st = body["metadata"], dict(body.status)
        namespace, name = meta["namespace"], meta["name"]
        if due(st, now):
            if meta["uid"] in self._expiring:
                return
            await asyncio.to_thread(self.files.forget_record, name)
            message = f"Removed after its retention period ({st['expiresAt']}): the job, its video and MP3."
            kopf.event(body, type="Normal", reason="Expired", message=message)
            # deleted once this timer call has returned: Kopf removes the finalizer only after the
            # object's timers stopped, and a timer caught inside its call can leave it stuck there
            self._expiring[meta["uid"]] = asyncio.create_task(self._expire(namespace, name, meta["uid"]))
            log.info(kv(job=name, event="job.expired", expires_at=st["expiresAt"]))
        elif video_due(st, self.settings, now):
            video_id = body["spec"]["source"]["videoId"]
            shared = await asyncio.to_thread(self.files.video_shared, video_id, name)
            if not shared:
                await asyncio.to_thread(self.files.delete_video, video_id)
            await self.kube.patch_status(namespace, name, {"videoRemovedAt": iso(now)})
            message = "Removed the uploaded video (its retention ended); the MP3 stays until the job expires."
            kopf.event(body, type="Normal", reason="VideoRemoved", message=message)
            log.info(kv(job=name, event="job.video_removed", shared=shared))
