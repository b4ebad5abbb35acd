"""The admission pass (admission.py's plan, applied): list the namespace's ConversionJobs and
converter Jobs, unsuspend the Jobs the plan admits, write every other queued job's place.

Passes run one at a time per process, in the admitter's own task: ``Admitter.poke`` asks for
one and returns at once, so no handler (and no later event of its Job or pod) waits behind other
jobs' admissions; pokes while a pass runs are coalesced into one more pass after it. The places
are written a few at a time. The state is the cluster's, listed fresh on each pass: the Jobs'
``spec.suspend`` says what runs, so two replicas (only one acts, Kopf's peering) or a restart need
nothing handed over. Only handlers poke, so a replica that Kopf's peering pauses admits nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any

from common.logs import kv
from common.phases import TERMINAL
from common.resources import JOB_LABEL, series_job_name
from conversion_operator import admission
from conversion_operator.k8s import Kube
from conversion_operator.settings import Settings

log = logging.getLogger("operator.admission")
Locked = Callable[[str, str], asyncio.Lock]  # the per-ConversionJob lock (reconcile.py)
PLACE_WRITERS = 8  # queued jobs' places written at once (a read and a patch each)


def current_jobs(crs: Iterable[Mapping[str, Any]], jobs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Each live, unfinished ConversionJob's name -> its current series' converter Job."""
    live: dict[tuple[str, str], Mapping[str, Any]] = {}
    for cr in crs:
        meta, st = cr["metadata"], cr.get("status") or {}
        if meta.get("deletionTimestamp") or st.get("phase") in TERMINAL:
            continue
        live[(meta["uid"], series_job_name(meta["name"], int(st.get("series") or 0)))] = cr
    out: dict[str, Any] = {}
    for job in jobs:
        meta = job["metadata"]
        owner = next((o["uid"] for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        found = live.get((owner or "", meta["name"]))
        if found is not None and not meta.get("deletionTimestamp") and not _finished(job):
            out[found["metadata"]["name"]] = (found, job)
    return out


def snapshot(pairs: Mapping[str, Any]) -> tuple[list[admission.Waiting], Counter[str]]:
    """The queued jobs and the running count per owner, from (ConversionJob, Job) pairs."""
    waiting: list[admission.Waiting] = []
    running: Counter[str] = Counter()
    for name, (cr, job) in pairs.items():
        owner = str(cr["spec"]["owner"]["userId"])
        if (job.get("spec") or {}).get("suspend"):
            created = str(cr["metadata"].get("creationTimestamp") or "")
            priority = str(cr["spec"].get("priority") or admission.DEFAULT_PRIORITY)
            waiting.append(admission.Waiting(name, owner, created, priority))
        else:
            running[owner] += 1
    return waiting, running


def _finished(job: Mapping[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


class Admitter:
    def __init__(self, settings: Settings, kube: Kube, locked: Locked) -> None:
        self.settings, self.kube, self.locked = settings, kube, locked
        self._wanted: set[str] = set()  # namespaces a pass is asked for
        self._woken = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    async def poke(self, namespace: str) -> None:
        """Ask for a pass over ``namespace`` (after the one running, which may have listed too
        early); it runs in the admitter's task, this returns at once."""
        if self.settings.admission != "operator":
            return  # Kueue admits
        self._wanted.add(namespace)
        self._woken.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="admission")

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    async def _work(self) -> None:
        while True:
            await self._woken.wait()
            self._woken.clear()
            while self._wanted:
                namespace = self._wanted.pop()
                try:
                    await self._pass(namespace)
                except Exception as exc:  # the next poke (at the latest the resync's) tries again
                    log.warning(kv(event="admission.pass_failed", namespace=namespace, error=repr(exc)))

    async def _pass(self, namespace: str) -> None:
        crs = await self.kube.list_conversionjobs(namespace)
        jobs = await self.kube.list_jobs(namespace, JOB_LABEL)
        pairs = current_jobs(crs, jobs)
        waiting, running = snapshot(pairs)
        cfg = self.settings
        plan = admission.plan(waiting, running, cfg.max_running, cfg.max_running_per_user)
        for name in plan.admit:
            cr, job = pairs[name]
            await self.kube.unsuspend_job(namespace, job["metadata"]["name"])
            owner = cr["spec"]["owner"]["userId"]
            log.info(kv(job=name, event="job.admitted", owner=owner, running=sum(running.values())))
        writers = asyncio.Semaphore(PLACE_WRITERS)

        async def write(name: str, place: dict[str, Any]) -> None:
            async with writers:
                await self._write_place(namespace, name, place, pairs[name][0])

        await asyncio.gather(*(write(name, asdict(place)) for name, place in plan.places.items()))

    async def _write_place(
        self, namespace: str, name: str, place: dict[str, Any], cr: Mapping[str, Any]
    ) -> None:
        if not _place_stale(cr, place):
            return
        async with self.locked(namespace, name):  # the reconcile of this job writes its status too
            # read again under the lock: the listed status may be older than a reconcile's write
            # (a job Failed or Cancelled since keeps its own message)
            fresh = await self.kube.get_conversionjob(namespace, name)
            if fresh is None or fresh["metadata"].get("deletionTimestamp") or not _place_stale(fresh, place):
                return
            patch: dict[str, Any] = {"queue": place}
            if (fresh.get("status") or {}).get("phase") == "Queued":
                patch["message"] = place["message"]
            await self.kube.patch_status(namespace, name, patch)


def _place_stale(cr: Mapping[str, Any], place: Mapping[str, Any]) -> bool:
    """Does the job's status lack this place? The message too when it is Queued: a reconcile that
    read the status before the place was written may have set the generic "waiting" sentence since
    (the next pass, at the latest the resync's, mends it). A finished job has no place to write."""
    st = cr.get("status") or {}
    if st.get("phase") in TERMINAL:
        return False
    queued = st.get("phase") == "Queued"
    return st.get("queue") != place or (queued and st.get("message") != place["message"])
