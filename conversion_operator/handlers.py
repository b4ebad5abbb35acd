"""Kopf's handlers: thin routes from cluster events to ``Conversions`` (reconcile.py).

Every handler returns None: Kopf would store a return value under ``status.<handler id>``, which
the ConversionJob's strict status schema prunes anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

import kopf

from common.events import REQUESTED
from common.logs import kv
from common.messaging import ConsumerQueue
from common.resources import FINALIZER, GROUP, JOB_LABEL, PLURAL, VERSION
from conversion_operator import status
from conversion_operator.files import Files
from conversion_operator.k8s import Kube
from conversion_operator.outcomes import Publisher
from conversion_operator.reconcile import Conversions, JobsIndex, Key, PodsIndex
from conversion_operator.requested import RequestedConsumer
from conversion_operator.settings import get_settings

log = logging.getLogger("operator")
CONVERSIONJOBS = (GROUP, VERSION, PLURAL)
OURS = {JOB_LABEL: kopf.PRESENT}  # Jobs and pods made for a ConversionJob
RETRY_SECONDS = 5.0


@kopf.on.startup()
async def configure(*, settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    cfg = get_settings()
    # Kopf's bookkeeping in annotations under our prefix (never in the strictly-typed status)
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = FINALIZER
    # Kopf's own Events only for warnings and errors; the story of a job is told by ours
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "mp4mp3-operator"
    settings.posting.event_name_prefix = "mp4mp3-operator-"
    # a namespaced operator with namespaced RBAC: no cluster-wide listing of namespaces and CRDs
    settings.scanning.disabled = True
    settings.peering.lifetime = cfg.peering_lifetime
    settings.peering.stealth = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60

    kube = Kube()
    await kube.ensure_peering(cfg.namespace, cfg.peering_name)
    files = Files(cfg.mongo_uri.get_secret_value())
    publisher = Publisher(cfg.amqp_url.get_secret_value())
    publisher.start()
    consumer = RequestedConsumer(
        cfg.amqp_url.get_secret_value(),
        ConsumerQueue(cfg.requested_queue, (REQUESTED,), cfg.requested_retry_delay_ms),
        cfg.namespace,
        kube.create_conversionjob_sync,
        files.video_exists,
        cfg.requested_max_attempts,
    )
    consumer.start()
    memo.conversions = Conversions(cfg, kube, files, publisher)
    memo.closers = [consumer.stop, publisher.stop, files.close, kube.close]
    log.info(kv(event="started", namespace=cfg.namespace, peering=cfg.peering_name))


@kopf.on.cleanup()
async def shut_down(*, memo: Any, **_: Any) -> None:
    for close in memo.get("closers", []):
        close()


@kopf.index("batch", "v1", "jobs", labels=OURS)
def converter_jobs(*, body: kopf.Body, **_: Any) -> dict[Key, status.JobView]:
    return {_key(body): status.job_view(body)}


@kopf.index("", "v1", "pods", labels=OURS)
def converter_pods(*, body: kopf.Body, **_: Any) -> dict[Key, status.PodView]:
    return {_key(body): status.pod_view(body)}


@kopf.on.resume(*CONVERSIONJOBS, backoff=RETRY_SECONDS)
@kopf.on.create(*CONVERSIONJOBS, backoff=RETRY_SECONDS)
async def start(*, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    await _conversions(memo).start(body, *_indexes(kwargs))


@kopf.on.event("batch", "v1", "jobs", labels=OURS)
@kopf.on.event("", "v1", "pods", labels=OURS)
async def converter_changed(*, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    await _conversions(memo).reconcile(*_key(body), *_indexes(kwargs))


async def resync(*, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    """Reconcile an unsettled ConversionJob even without events (a missed event, a failed publish)."""
    meta = body["metadata"]
    await _conversions(memo).reconcile(meta["namespace"], meta["name"], *_indexes(kwargs))


def register_resync(interval: float) -> None:
    """The resync timer, at the configured interval (so not a decorator evaluated at import)."""
    kopf.timer(
        *CONVERSIONJOBS,
        id="resync",
        interval=interval,
        initial_delay=interval,  # a new ConversionJob is started by `start`, not by the timer
        when=lambda status, **_: not _settled(status),
    )(resync)


@kopf.on.delete(*CONVERSIONJOBS, backoff=2)
async def clean_up(*, body: kopf.Body, memo: Any, runtime: dt.timedelta, **kwargs: Any) -> None:
    _, pods = _indexes(kwargs)
    await _conversions(memo).finalize(body, pods, runtime.total_seconds())


def _key(body: kopf.Body) -> Key:
    """The ConversionJob a converter Job or pod was made for."""
    meta = body["metadata"]
    return meta["namespace"], meta["labels"][JOB_LABEL]


def _indexes(kwargs: dict[str, Any]) -> tuple[JobsIndex, PodsIndex]:
    """Kopf passes each index as a keyword named after its function."""
    return cast(JobsIndex, kwargs["converter_jobs"]), cast(PodsIndex, kwargs["converter_pods"])


def _settled(st: kopf.Status) -> bool:
    return status.is_settled(st)


def _conversions(memo: Any) -> Conversions:
    return cast(Conversions, memo.conversions)
