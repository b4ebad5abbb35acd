"""Everything the operator does to one ConversionJob: start it, keep its status true, publish its
outcome, clean up after it. Kopf's handlers (handlers.py) only route events here.

Calls for one ConversionJob are serialised by a lock, and its status is re-read inside it, so a
Job event, a pod event and the resync timer arriving together never publish an outcome twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from common.logs import kv
from common.phases import FAILED
from common.resources import RETRY_ANNOTATION, mp3_id, series_job_name
from conversion_operator import jobs, metrics, outcomes, retention, status, troubles, views
from conversion_operator.files import Files
from conversion_operator.k8s import Kube
from conversion_operator.queueing import Admitter
from conversion_operator.settings import Settings
from conversion_operator.views import JobView, PodView

log = logging.getLogger("operator")
Key = tuple[str, str]  # (namespace, name) of a ConversionJob
JobsIndex = Mapping[Key, Iterable[JobView]]
PodsIndex = Mapping[Key, Iterable[PodView]]
MAX_WAIT_FOR_PODS = 60.0  # seconds the finalizer waits for the converter to stop before deleting files


class Conversions:
    def __init__(self, settings: Settings, kube: Kube, files: Files, publisher: outcomes.Publisher) -> None:
        self.settings, self.kube, self.files, self.publisher = settings, kube, files, publisher
        self.limits = status.Limits(
            settings.job_backoff_limit,
            settings.job_deadline_seconds,
            memory_limit=settings.converter_memory_limit,
            image=settings.converter_image,
            queued=_queued_sentence(settings),
        )
        self.admitter = Admitter(settings, kube, self._lock)
        self.retention = retention.Retention(settings, kube, files)
        self._locks: weakref.WeakValueDictionary[Key, asyncio.Lock] = weakref.WeakValueDictionary()
        self._published: set[str] = set()  # outcomes published by this process (uid/series/phase)

    async def start(self, body: kopf.Body, jobs_index: JobsIndex, pods_index: PodsIndex) -> None:
        """Create the converter's RBAC and Job (idempotent: a replay or a restart finds them made)."""
        meta, spec = body["metadata"], body["spec"]
        name, namespace = meta["name"], meta["namespace"]
        metrics.PHASES_SEEN.seen((namespace, name), body.status.get("phase"))
        if body.status.get("phase") in status.TERMINAL:
            return
        if not await asyncio.to_thread(self.files.video_exists, spec["source"]["videoId"]):
            message = "The uploaded video is no longer stored; upload it again."
            await self._fail_early(body, "SourceMissing", message)
        else:
            await self._create_job(body, _series(body.status))
        await self.reconcile(namespace, name, jobs_index, pods_index)
        await self.admitter.poke(namespace)

    async def _create_job(self, body: kopf.Body, series: int) -> None:
        meta = body["metadata"]
        if not self.settings.converter_service_account:
            for obj in jobs.converter_rbac(body):
                await self.kube.ensure(obj)
        job_name = series_job_name(meta["name"], series)
        segments = await self._segments(body)
        made, created = await self.kube.create_job(jobs.job(body, self.settings, job_name, segments))
        if views.job_view(made).owner_uid != meta["uid"]:
            raise kopf.TemporaryError(
                f"Job {job_name} belongs to an earlier ConversionJob of that name; waiting for it to go.",
                delay=5,
            )
        if created:
            metrics.job_created(body, _now())
            filename = body["spec"]["source"]["filename"]
            message = f"Created Job {job_name} (suspended until admitted) to convert {filename}."
            if segments > 1:
                message += f" It is long: {segments} pods encode a part each, the last joins them."
            kopf.event(body, type="Normal", reason="JobCreated", message=message)
            log.info(kv(job=meta["name"], event="converter_job.created", segments=segments))

    async def _segments(self, body: kopf.Body) -> int:
        """How many pods encode it: reading the movie header only when a long video could be split."""
        if jobs.segments_for(body["spec"], float("inf"), self.settings) < 2:
            return 1
        seconds = await asyncio.to_thread(self.files.video_seconds, body["spec"]["source"]["videoId"])
        return jobs.segments_for(body["spec"], seconds, self.settings)

    async def _fail_early(self, body: kopf.Body, reason: str, message: str) -> None:
        meta = body["metadata"]
        async with self._lock(meta["namespace"], meta["name"]):
            current = dict(body.status)
            desired = status.failed_early(current, reason, message, meta.get("generation", 1), _now())
            await self.kube.patch_status(meta["namespace"], meta["name"], status.changes(current, desired))
        kopf.event(body, type="Warning", reason=reason, message=message)
        metrics.ADMISSIONS.labels(decision="refused").inc()
        log.warning(kv(job=meta["name"], event="job.refused", reason=reason))

    async def reconcile(
        self, namespace: str, name: str, jobs_index: JobsIndex, pods_index: PodsIndex
    ) -> bool:
        """Mirror the Job and its pods into the ConversionJob's status, then publish its outcome.
        True when this call finished it (a conversion slot is free)."""
        async with self._lock(namespace, name):
            found = await self.kube.get_conversionjob(namespace, name)
            if found is None or found["metadata"].get("deletionTimestamp"):
                return False  # gone, or the finalizer's business now
            cr = kopf.Body(cast(kopf.RawBody, found))
            uid, job_name = cr["metadata"]["uid"], series_job_name(name, _series(cr.status))
            candidates = jobs_index.get((namespace, name), ())
            job = next((j for j in candidates if j.owner_uid == uid and j.name == job_name), None)
            pods = [p for p in pods_index.get((namespace, name), ()) if job and p.job_uid == job.uid]
            current = dict(cr.status)
            desired = status.next_status(
                current,
                generation=cr["metadata"].get("generation", 1),
                filename=cr["spec"]["source"]["filename"],
                job=job,
                pods=pods,
                limits=self.limits,
                now=_now(),
                mp3_id=str(mp3_id(uid)),
            )
            desired["expiresAt"] = retention.expires_at(cr["spec"], desired, self.settings, _now())
            patch = status.changes(current, desired)
            metrics.PHASES_SEEN.seen((namespace, name), desired.get("phase"))
            if patch:
                await self.kube.patch_status(namespace, name, patch)
            if job and job.outcome is None and desired["reason"] == troubles.IMAGE_UNAVAILABLE:
                await self.kube.delete_job(namespace, job.name)  # it would wait for its deadline
            for change in status.transitions(current, desired):
                kopf.event(cr, type=change.type, reason=change.reason, message=change.message)
                log.info(kv(job=name, event="job.transitioned", phase=desired["phase"], reason=change.reason))
            await self._publish_outcome(cr, {**current, **patch})
            return current.get("phase") not in status.TERMINAL and desired["phase"] in status.TERMINAL

    async def _publish_outcome(self, cr: kopf.Body, st: Mapping[str, Any]) -> None:
        """At least once, and once in effect: a crash between publishing and recording it in the status
        may publish twice (same event id), never zero times."""
        meta, phase = cr["metadata"], st.get("phase")
        if phase not in status.OUTCOMES or st.get("outcomePublished") == phase:
            return
        event = outcomes.outcome_event(cr, st)
        key = f"{meta['uid']}/{_series(st)}/{phase}"
        if key not in self._published:
            try:
                await self.publisher.publish(event)
            except Exception as exc:  # the resync timer tries again
                log.warning(kv(job=meta["name"], event="outcome.publish_failed", error=repr(exc)))
                metrics.PUBLISH_FAILURES.inc()
                return
            self._published.add(key)
            metrics.outcome_published(st)
        await self.kube.patch_status(meta["namespace"], meta["name"], {"outcomePublished": phase})
        message = f"Published {outcomes.routing_key(event)} (event {event.event_id})."
        kopf.event(cr, type="Normal", reason="OutcomePublished", message=message)
        log.info(kv(job=meta["name"], event="outcome.published", outcome=phase, event_id=event.event_id))

    async def finalize(self, body: kopf.Body, pods_index: PodsIndex, waited: float) -> None:
        """On deletion: mark it Cancelled if unfinished, delete the Job, wait for its pods to stop
        (a running converter could still write the MP3), then delete the video and the MP3."""
        meta, spec = body["metadata"], body["spec"]
        namespace, name = meta["namespace"], meta["name"]
        async with self._lock(namespace, name):
            current = dict(body.status)
            if current.get("phase") not in status.TERMINAL:
                desired = status.cancelled(current, meta.get("generation", 1), _now())
                await self.kube.patch_status(namespace, name, status.changes(current, desired))
                kopf.event(body, type="Normal", reason="Cancelled", message=desired["message"])
            await self.kube.delete_job(namespace, series_job_name(name, _series(current)))
            pods = [p for p in pods_index.get((namespace, name), ()) if p.phase in ("Pending", "Running")]
            if pods and waited < MAX_WAIT_FOR_PODS:
                raise kopf.TemporaryError(f"Waiting for {len(pods)} converter pod(s) to stop.", delay=2)
            video_id, file_id = spec["source"]["videoId"], mp3_id(meta["uid"])
            video, mp3 = await asyncio.to_thread(self.files.delete, video_id, file_id, name)
            self._published = {k for k in self._published if not k.startswith(f"{meta['uid']}/")}
        metrics.PHASES_SEEN.forget((namespace, name))
        running = len(pods)
        log.info(kv(job=name, event="job.cleaned_up", video_deleted=video, mp3_deleted=mp3, running=running))

    async def retry(self, body: kopf.Body, jobs_index: JobsIndex, pods_index: PodsIndex) -> None:
        """A new ``mp4mp3.io/retry`` token: run a Failed job again (a new series of attempts with the
        stored video, the old Job replaced, the history kept); on any other phase, refuse it (an
        Event). Each token is acted on once: it is recorded in ``status.retryToken``."""
        meta = body["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if not _new_token(body) or meta.get("deletionTimestamp"):
            return
        async with self._lock(namespace, name):
            found = await self.kube.get_conversionjob(namespace, name)
            if found is None or found["metadata"].get("deletionTimestamp"):
                return
            cr = kopf.Body(cast(kopf.RawBody, found))
            token, current = _new_token(cr), dict(cr.status)
            if not token:
                return
            refusal = await self._retry_refusal(cr, current)
            if refusal:
                await self.kube.patch_status(namespace, name, {"retryToken": token})
                kopf.event(cr, type="Warning", reason="RetryRefused", message=refusal)
                log.info(kv(job=name, event="job.retry_refused", phase=current.get("phase")))
                return
            await self.kube.delete_job(
                namespace, current.get("jobName") or series_job_name(name, _series(current))
            )
            desired = status.retried(current, token, cr["metadata"].get("generation", 1), _now())
            await self.kube.patch_status(namespace, name, status.changes(current, desired))
            kopf.event(cr, type="Normal", reason="RetryRequested", message=desired["message"])
            log.info(kv(job=name, event="job.retried", series=desired["series"]))
        await self._create_job(cr, desired["series"])
        await self.reconcile(namespace, name, jobs_index, pods_index)
        await self.admitter.poke(namespace)

    async def _retry_refusal(self, cr: kopf.Body, current: Mapping[str, Any]) -> str | None:
        phase = current.get("phase") or "Pending"
        if phase != FAILED:
            return f"Only a Failed ConversionJob is retried; this one is {phase}."
        if not await asyncio.to_thread(self.files.video_exists, cr["spec"]["source"]["videoId"]):
            return "The uploaded video is no longer stored (its retention ended); upload it again."
        return None

    def _lock(self, namespace: str, name: str) -> asyncio.Lock:
        lock = self._locks.get((namespace, name))
        if lock is None:
            lock = self._locks[(namespace, name)] = asyncio.Lock()
        return lock


def _series(st: Mapping[str, Any]) -> int:
    return int(st.get("series") or 0)


def _new_token(body: kopf.Body) -> str | None:
    """The retry token on the ConversionJob, if it is one not yet acted on."""
    token = (body["metadata"].get("annotations") or {}).get(RETRY_ANNOTATION)
    return token if token and token != body.status.get("retryToken") else None


def _queued_sentence(settings: Settings) -> str:
    if settings.admission == "kueue":
        return f"Queued: waiting for Kueue to admit its Job (LocalQueue {settings.kueue_queue_name})."
    return "Queued: waiting for a free conversion slot."


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
