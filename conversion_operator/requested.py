"""The gateway's fallback: consume ``conversion.requested`` and create any ConversionJob that is missing.

One thread owns the RabbitMQ connection; the Kubernetes and MongoDB calls run in a worker pool and
their verdict is settled back on the connection's thread (``add_callback_threadsafe``): ack after
the side effect, retry later through the ``.retry`` queue, or park for good after too many tries.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import Any

import pika
import pika.exceptions
from kubernetes.client.exceptions import ApiException
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties
from pydantic import ValidationError
from pymongo.errors import PyMongoError

from common import events, messaging
from common.events import ConversionRequested
from common.logs import kv
from common.resources import conversion_job

log = logging.getLogger("operator.requested")
PREFETCH = 8
RECONNECT_SECONDS = 5


class Verdict(Enum):
    ACK = "ack"  # done (created, already there, or nothing to do)
    RETRY = "retry"  # the world's fault: try again after the retry queue's delay
    PARK = "park"  # the message's fault: keep it aside for a human


def conversionjob(event: ConversionRequested) -> dict[str, Any]:
    """The ConversionJob a ``conversion.requested`` event describes: the very manifest the gateway
    would have created."""
    return conversion_job(event.job.name, event.job.namespace, event.spec, event.labels)


class RequestedConsumer:
    def __init__(
        self,
        url: str,
        queue: messaging.ConsumerQueue,
        namespace: str,
        create: Callable[[dict[str, Any]], bool],
        video_exists: Callable[[str], bool],
        max_attempts: int,
    ) -> None:
        self.url, self.queue, self.namespace = url, queue, namespace
        self.create, self.video_exists, self.max_attempts = create, video_exists, max_attempts
        self.workers = ThreadPoolExecutor(PREFETCH, thread_name_prefix="requested")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="requested-consumer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self.workers.shutdown(wait=False, cancel_futures=True)

    # -- the verdict (runs in a worker thread) ---------------------------------------------------

    def decide(self, body: bytes, attempts: int) -> Verdict:
        try:
            event = events.parse(body)
        except ValidationError as exc:
            log.warning(kv(event="requested-unreadable", error=str(exc).splitlines()[0]))
            return Verdict.PARK
        if not isinstance(event, ConversionRequested):
            return Verdict.ACK
        job = event.job.name
        if event.job.namespace != self.namespace:
            log.info(kv(job=job, event="requested-other-namespace", namespace=event.job.namespace))
            return Verdict.ACK
        try:
            video_id = str((event.spec.get("source") or {}).get("videoId", ""))
            if not self.video_exists(video_id):  # deleted since (cancelled): don't resurrect the job
                log.info(kv(job=job, event="requested-video-gone", video=video_id))
                return Verdict.ACK
            created = self.create(conversionjob(event))
        except ApiException as exc:
            if exc.status in (400, 404, 422):  # refused (the schema, no such namespace): retrying won't help
                log.warning(kv(job=job, event="requested-refused", status=exc.status, reason=exc.reason))
                return Verdict.PARK
            return self._retry_or_park(job, attempts, exc)
        except (PyMongoError, OSError) as exc:
            return self._retry_or_park(job, attempts, exc)
        except Exception as exc:  # e.g. urllib3's MaxRetryError while the API server is down
            # anything else is the world's fault until proven otherwise: retry, then park; never
            # leave the message unsettled (an exception here would vanish in the worker thread)
            return self._retry_or_park(job, attempts, exc)
        log.info(kv(job=job, event="requested-created" if created else "requested-exists"))
        return Verdict.ACK

    def _retry_or_park(self, job: str, attempts: int, exc: Exception) -> Verdict:
        verdict = Verdict.RETRY if attempts + 1 < self.max_attempts else Verdict.PARK
        log.warning(kv(job=job, event=f"requested-{verdict.value}", attempt=attempts + 1, error=exc))
        return verdict

    # -- the connection's thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._consume()
            except (pika.exceptions.AMQPError, OSError) as exc:
                log.warning(kv(event="requested-reconnect", error=type(exc).__name__))
                self._stopping.wait(RECONNECT_SECONDS)

    def _consume(self) -> None:
        connection = messaging.connect(self.url, "mp4mp3-operator-requested")
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            messaging.declare_topology(channel, [self.queue])
            channel.basic_qos(prefetch_count=PREFETCH)
            on_message = functools.partial(self._on_message, connection)
            channel.basic_consume(self.queue.name, on_message)
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=1)
        finally:
            if connection.is_open:
                connection.close()

    def _on_message(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        def work() -> None:
            verdict = self.decide(body, messaging.delivery_count(properties))
            settle = functools.partial(self._settle, channel, method.delivery_tag, properties, body, verdict)
            connection.add_callback_threadsafe(settle)

        self.workers.submit(work)

    def _settle(
        self, channel: BlockingChannel, tag: int, properties: BasicProperties, body: bytes, verdict: Verdict
    ) -> None:
        if not channel.is_open:
            return  # the broker redelivers it on the next connection
        message_id = properties.message_id or ""
        if verdict is Verdict.RETRY:
            messaging.publish(
                channel, self.queue.retry, body, message_id, messaging.RETRY_EXCHANGE, properties.headers
            )
        elif verdict is Verdict.PARK:
            messaging.publish(channel, self.queue.parked, body, message_id, exchange="")
        channel.basic_ack(tag)
