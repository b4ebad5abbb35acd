"""The admission pass (admission.py's plan, applied): list the namespace's ConversionJobs and
converter Jobs, unsuspend the Jobs the plan admits, write every other queued job's place.

Passes run one at a time per process; a pass asked for while one runs is done once after it
(``Admitter.poke`` coalesces). The state is the cluster's, listed fresh on each pass: the Jobs'
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
        self._running = asyncio.Lock()
        self._wanted = False

    async def poke(self, namespace: str) -> None:
        """Run a pass now, or once more after the one running (which may have listed too early)."""
        if self.settings.admission != "operator":
            return  # Kueue admits
        self._wanted = True
        if self._running.locked():
            return
        async with self._running:
            while self._wanted:
                self._wanted = False
                await self._pass(namespace)

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
        for name, place in plan.places.items():
            cr, _ = pairs[name]
            await self._write_place(namespace, name, asdict(place), cr)

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
