"""Kopf's handlers: thin routes from cluster events to ``Conversions`` (reconcile.py).

Each handler names what it uses as typed parameters, as Kopf's examples do: the two indexes under
the names of their index functions (``converter_jobs``, ``converter_pods``) and ``memo``, which
holds the ``Conversions`` built at startup. Kopf's callback protocols list only its standard
keyword arguments, so mypy flags a handler that names an index: the registrations say
``type: ignore[arg-type]`` there, as in Kopf's own examples. Every handler returns None: Kopf
would store a return value under ``status.<handler id>``, which the ConversionJob's strict status
schema prunes anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import kopf

from common.logs import kv
from common.phases import TERMINAL
from common.resources import FINALIZER, GROUP, JOB_LABEL, PLURAL, RETRY_ANNOTATION, VERSION
from conversion_operator import requested, views
from conversion_operator.files import Files
from conversion_operator.k8s import Kube
from conversion_operator.outcomes import Publisher
from conversion_operator.reconcile import Conversions, Key
from conversion_operator.settings import Settings, get_settings
from conversion_operator.status import is_settled

log = logging.getLogger("operator")
CONVERSIONJOBS = (GROUP, VERSION, PLURAL)
OURS = {JOB_LABEL: kopf.PRESENT}  # Jobs and pods made for a ConversionJob
RETRY_SECONDS = 5.0
ConverterJobs = kopf.Index[Key, views.JobView]  # the index built by `converter_jobs` below
ConverterPods = kopf.Index[Key, views.PodView]


@kopf.on.startup()
async def configure(*, settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    cfg = get_settings()
    tune(settings, cfg)
    memo.conversions, memo.closers = await start_services(cfg)
    log.info(kv(event="operator.started", namespace=cfg.namespace, peering=cfg.peering_name))


def tune(settings: kopf.OperatorSettings, cfg: Settings) -> None:
    """Kopf's own settings for our CRD, RBAC and peering."""
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


async def start_services(cfg: Settings) -> tuple[Conversions, list[Callable[[], None]]]:
    """The clients, the outcome publisher and the conversion.requested consumer; with what closes them."""
    kube = Kube()
    await kube.ensure_peering(cfg.namespace, cfg.peering_name)
    files = Files(cfg.mongo_uri.get_secret_value())
    publisher = Publisher(cfg.amqp_url.get_secret_value())
    publisher.start()
    consumer = requested.build_consumer(
        cfg.amqp_url.get_secret_value(),
        cfg.requested_queue,
        requested.Requested(cfg.namespace, kube.create_conversionjob_sync, files.video_exists),
        cfg.requested_max_attempts,
        cfg.requested_retry_delay_ms,
    )
    consumer.start()
    conversions = Conversions(cfg, kube, files, publisher)
    closers = [conversions.admitter.close, consumer.stop, publisher.stop, files.close, kube.close]
    return conversions, closers


@kopf.on.cleanup()
async def shut_down(*, memo: kopf.Memo, **_: Any) -> None:
    for close in memo.get("closers", []):
        close()


@kopf.index("batch", "v1", "jobs", labels=OURS)
def converter_jobs(*, body: kopf.Body, **_: Any) -> dict[Key, views.JobView]:
    return {_key(body): views.job_view(body)}


@kopf.index("", "v1", "pods", labels=OURS)
def converter_pods(*, body: kopf.Body, **_: Any) -> dict[Key, views.PodView]:
    return {_key(body): views.pod_view(body)}


@kopf.on.resume(*CONVERSIONJOBS, backoff=RETRY_SECONDS)
@kopf.on.create(*CONVERSIONJOBS, backoff=RETRY_SECONDS)  # type: ignore[arg-type]  # an index parameter (see the top)
async def start(
    *,
    body: kopf.Body,
    converter_jobs: ConverterJobs,
    converter_pods: ConverterPods,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    conversions: Conversions = memo.conversions
    await conversions.start(body, converter_jobs, converter_pods)


@kopf.on.event("batch", "v1", "jobs", labels=OURS)
@kopf.on.event("", "v1", "pods", labels=OURS)  # type: ignore[arg-type]  # an index parameter (see the top)
async def converter_changed(
    *,
    body: kopf.Body,
    converter_jobs: ConverterJobs,
    converter_pods: ConverterPods,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    conversions: Conversions = memo.conversions
    finished = await conversions.reconcile(*_key(body), converter_jobs, converter_pods)
    if finished or body.get("kind") == "Job":  # one finished, or was admitted: a slot may be free
        await conversions.admitter.poke(body["metadata"]["namespace"])


@kopf.on.event(*CONVERSIONJOBS, when=lambda status, **_: _reported_unfinished(status))  # type: ignore[arg-type]  # an index parameter (see the top)
async def converter_reported(
    *,
    body: kopf.Body,
    converter_jobs: ConverterJobs,
    converter_pods: ConverterPods,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """The converter patched its report into the status (its output is stored): settle the job now,
    not when its pod's end is seen."""
    conversions: Conversions = memo.conversions
    meta = body["metadata"]
    if await conversions.reconcile(meta["namespace"], meta["name"], converter_jobs, converter_pods):
        await conversions.admitter.poke(meta["namespace"])


@kopf.on.event(*CONVERSIONJOBS, annotations={RETRY_ANNOTATION: kopf.PRESENT})  # type: ignore[arg-type]  # an index parameter (see the top)
async def retry(
    *,
    body: kopf.Body,
    converter_jobs: ConverterJobs,
    converter_pods: ConverterPods,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """``mp4mp3.io/retry=<token>`` (the gateway's POST /jobs/{id}/retry, kubectl annotate, k9s)."""
    conversions: Conversions = memo.conversions
    await conversions.retry(body, converter_jobs, converter_pods)


async def resync(
    *,
    namespace: str,
    name: str,
    converter_jobs: ConverterJobs,
    converter_pods: ConverterPods,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Reconcile an unsettled ConversionJob even without events (a missed event, a failed publish);
    and admit (a queued job is unsettled: admission runs at least this often)."""
    conversions: Conversions = memo.conversions
    await conversions.reconcile(namespace, name, converter_jobs, converter_pods)
    await conversions.admitter.poke(namespace)


def register_resync(interval: float) -> None:
    """The resync timer, at the configured interval (so not a decorator evaluated at import)."""
    kopf.timer(
        *CONVERSIONJOBS,
        id="resync",
        interval=interval,
        initial_delay=interval,  # a new ConversionJob is started by `start`, not by the timer
        when=_unsettled,
    )(resync)  # type: ignore[arg-type]  # an index parameter (see the top)


async def expire(*, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Remove a finished ConversionJob (or first its video) once its retention period is over."""
    conversions: Conversions = memo.conversions
    await conversions.retention.sweep(body, dt.datetime.now(dt.UTC))


def register_retention(interval: float) -> None:
    """The retention timer on finished ConversionJobs, at the configured interval."""
    kopf.timer(*CONVERSIONJOBS, id="retention", interval=interval, when=_finished)(expire)


@kopf.on.delete(*CONVERSIONJOBS, backoff=2)  # type: ignore[arg-type]  # an index parameter (see the top)
async def clean_up(
    *, body: kopf.Body, converter_pods: ConverterPods, memo: kopf.Memo, runtime: dt.timedelta, **_: Any
) -> None:
    conversions: Conversions = memo.conversions
    await conversions.finalize(body, converter_pods, runtime.total_seconds())
    await conversions.admitter.poke(body["metadata"]["namespace"])  # its slot is free


def _key(body: kopf.Body) -> Key:
    """The ConversionJob a converter Job or pod was made for."""
    meta = body["metadata"]
    return meta["namespace"], meta["labels"][JOB_LABEL]


def _finished(status: kopf.Status, meta: kopf.Meta, **_: Any) -> bool:
    """The retention timer's filter: finished, and not being deleted (a timer still running on a
    deleted ConversionJob would keep Kopf from removing its finalizer)."""
    return status.get("phase") in TERMINAL and not meta.get("deletionTimestamp")


def _reported_unfinished(status: kopf.Status) -> bool:
    """The converter's report is in the status of a job not yet finished."""
    return bool(status.get("converterReport")) and status.get("phase") not in TERMINAL


def _unsettled(status: kopf.Status, **_: Any) -> bool:
    """The resync timer's filter (Kopf passes the ConversionJob's status as ``status``)."""
    return not is_settled(status)
