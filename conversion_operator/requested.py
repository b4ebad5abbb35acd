"""The gateway's fallback: consume ``conversion.requested`` and create any ConversionJob that is missing.

``Requested.handle`` decides what one event becomes; the common consumer loop (``common.consumer``)
runs it in worker threads and carries its verdict out: ack after the side effect, retry later
through the ``.retry`` queue, park for good after too many tries (or at once for a message no
retry can help), and reconnect when the broker goes away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from pymongo.errors import PyMongoError

from common.consumer import Consumer, Event, Reconnect, parse_event
from common.events import REQUESTED, ConversionRequested
from common.kube import rejected
from common.messaging import ConsumerQueue
from common.resources import conversion_job
from common.retries import Ack, Park, Retry, RetryPolicy, Verdict

CONNECTION_NAME = "mp4mp3-operator-requested"
WORKERS = 8  # also the prefetch: the Kubernetes and MongoDB calls of 8 messages at once
RECONNECT_SECONDS = 5.0
STOP_SECONDS = 10.0  # on shutdown, how long the requests in hand may take to finish


def conversionjob(event: ConversionRequested) -> dict[str, Any]:
    """The ConversionJob a ``conversion.requested`` event describes: the very manifest the gateway
    would have created."""
    return conversion_job(event.job.name, event.job.namespace, event.spec, event.labels)


@dataclass(frozen=True)
class Requested:
    """The handler: create the ConversionJob a request describes, unless it is not ours to make."""

    namespace: str
    create: Callable[[dict[str, Any]], bool]  # True if created, False if it was there already
    video_exists: Callable[[str], bool]

    def handle(self, event: Event) -> Verdict:
        if not isinstance(event, ConversionRequested):
            return Ack("request.ignored")
        if event.job.namespace != self.namespace:  # another operator's namespace
            return Ack("request.elsewhere")
        try:
            return self._create(event)
        except ApiException as exc:
            if rejected(exc.status):  # refused (the schema, no such namespace): retrying won't help
                return Park(f"the API server refused the ConversionJob: {exc.status} {exc.reason}")
            return Retry(f"ApiException: {exc.status} {exc.reason}")
        except (PyMongoError, OSError) as exc:
            return Retry(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # e.g. urllib3's MaxRetryError while the API server is down
            # anything else is the world's fault until proven otherwise: retry, then park
            return Retry(f"{type(exc).__name__}: {exc}")

    def _create(self, event: ConversionRequested) -> Verdict:
        video_id = str((event.spec.get("source") or {}).get("videoId", ""))
        if not self.video_exists(video_id):  # deleted since (cancelled): don't resurrect the job
            return Ack("request.video_gone")
        if self.create(conversionjob(event)):
            return Ack("request.created")
        return Ack("request.exists")


def build_consumer(
    amqp_url: str, queue_name: str, handler: Requested, max_attempts: int, retry_delay_ms: int
) -> Consumer[Event]:
    """The consumer of ``queue_name``: a fixed delay (the retry queue's TTL) between attempts."""
    delay = retry_delay_ms / 1000
    return Consumer(
        amqp_url,
        ConsumerQueue(queue_name, (REQUESTED,), retry_delay_ms),
        handler.handle,
        parse_event,
        RetryPolicy(max_attempts=max_attempts, initial_delay=delay, factor=1.0, max_delay=delay),
        name=CONNECTION_NAME,
        prefetch=WORKERS,
        workers=WORKERS,
        reconnect=Reconnect(RECONNECT_SECONDS, RECONNECT_SECONDS),
        drain_seconds=STOP_SECONDS,
    )
