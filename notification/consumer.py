"""The RabbitMQ side: consume outcome events, hand each to one worker thread, settle it back on the
connection's thread (ack, republish to the retry queue, or park), reconnect when the broker goes away.

pika's BlockingConnection is not thread-safe: only this module's connection thread touches it; the
worker reports back through ``add_callback_threadsafe``. One worker keeps messages in queue order,
so a duplicate event is always checked after its first copy was recorded.

Retries: a message whose send failed is republished to ``<queue>.retry`` with a per-message
``expiration`` growing with its failure count; when it expires, the retry queue dead-letters it back
to ``<queue>``. The queue's own x-message-ttl is the longest delay (RabbitMQ applies the lower
of the two). Per-message TTLs expire only at the head of a queue, so a short delay queued behind a
long one waits for it: delays can stretch, never shrink, and never beyond the cap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic
from pydantic import ValidationError

from common import events
from common.events import FAILED, SUCCEEDED, ConversionFailed, ConversionSucceeded
from common.logs import kv
from common.messaging import PERSISTENT, RETRY_EXCHANGE, ConsumerQueue, connect, declare_topology
from notification.delivery import Delivery
from notification.mail import Outcome
from notification.retry import ATTEMPTS_HEADER, Decision, Park, Retry, failures_so_far

log = logging.getLogger(__name__)

OUTCOME_KEYS = (SUCCEEDED, FAILED)
PARKED_REASON_HEADER = "notification-parked-reason"
PARKED_AT_HEADER = "notification-parked-at"
CONNECTION_NAME = "notification"
DRAIN_SECONDS = 30.0  # on stop, how long the message being sent may take to finish


class MalformedMessage(ValueError):
    """A message that is not a valid outcome event: retrying it can never help."""


def parse_outcome(body: bytes) -> Outcome:
    try:
        event = events.parse(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise MalformedMessage(f"{exc.error_count()} error(s); first at {where}: {first['msg']}") from None
    if not isinstance(event, ConversionSucceeded | ConversionFailed):
        raise MalformedMessage(f"not an outcome event: {event.type}")
    return event


def consumer_queue(name: str, max_delay_seconds: float) -> ConsumerQueue:
    return ConsumerQueue(name, OUTCOME_KEYS, retry_delay_ms=round(max_delay_seconds * 1000))


class Consumer:
    def __init__(
        self,
        amqp_url: str,
        queue: ConsumerQueue,
        delivery: Delivery,
        *,
        events_exchange: str,
        prefetch: int,
        reconnect_initial_delay: float,
        reconnect_max_delay: float,
    ) -> None:
        self.amqp_url = amqp_url
        self.queue = queue
        self.delivery = delivery
        self.events_exchange = events_exchange
        self.prefetch = prefetch
        self.reconnect_initial_delay = reconnect_initial_delay
        self.reconnect_max_delay = reconnect_max_delay
        self._stop = threading.Event()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="send")
        self._in_flight: list[Future[None]] = []
        self._backoff = reconnect_initial_delay

    def stop(self) -> None:
        """Ask ``run`` to finish the message in hand and return (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Consume until ``stop``; a lost or refused broker connection is retried with backoff."""
        try:
            while not self._stop.is_set():
                try:
                    self._consume()
                    continue  # returns only once stopped
                except (pika.exceptions.AMQPError, OSError) as exc:
                    log.warning(kv(event="broker_unavailable", error=_describe(exc), retry_in=self._pause()))
                except Exception as exc:  # never die on a bug: say so loudly and start over
                    log.exception(kv(event="consumer_error", error=_describe(exc), retry_in=self._pause()))
                self._stop.wait(self._backoff)
                self._backoff = min(self._backoff * 2, self.reconnect_max_delay)
        finally:
            self._worker.shutdown(wait=True, cancel_futures=True)
            log.info(kv(event="stopped", queue=self.queue.name))

    def _pause(self) -> str:
        return f"{self._backoff:.1f}s"

    # --- on the connection's thread ---

    def _consume(self) -> None:
        connection = connect(self.amqp_url, CONNECTION_NAME)
        try:
            channel = connection.channel()
            channel.confirm_delivery()  # a retry/park republish returns only once the broker has it
            declare_topology(channel, [self.queue], events_exchange=self.events_exchange)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.basic_consume(self.queue.name, functools.partial(self._on_message, connection))
            log.info(kv(event="consuming", queue=self.queue.name, exchange=self.events_exchange))
            self._backoff = self.reconnect_initial_delay
            while not self._stop.is_set():
                connection.process_data_events(time_limit=1)
                self._in_flight = [f for f in self._in_flight if not f.done()]
            log.info(kv(event="stopping", queue=self.queue.name, in_flight=len(self._in_flight)))
            self._drain(connection)
        finally:
            if connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                    connection.close()

    def _on_message(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        method: Basic.Deliver,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        if self._stop.is_set():
            return  # left unacked: redelivered to whoever consumes next
        try:
            event = parse_outcome(body)
        except MalformedMessage as exc:
            self._settle(channel, method.delivery_tag, properties, body, None, Park(0, f"malformed: {exc}"))
            return
        failures = failures_so_far(properties.headers)
        work = functools.partial(
            self._work, connection, channel, method.delivery_tag, properties, body, event, failures
        )
        self._in_flight.append(self._worker.submit(work))

    def _settle(
        self,
        channel: BlockingChannel,
        tag: int,
        properties: pika.BasicProperties,
        body: bytes,
        event: Outcome | None,
        decision: Decision,
    ) -> None:
        if not channel.is_open:
            return  # the broker requeued it when the channel closed
        job = event.job.name if event else "-"
        event_id = event.event_id if event else properties.message_id or "-"
        if isinstance(decision, Retry):
            headers = {k: v for k, v in (properties.headers or {}).items() if not k.startswith("x-")}
            headers[ATTEMPTS_HEADER] = decision.failures
            _republish(
                channel,
                RETRY_EXCHANGE,
                self.queue.retry,
                properties,
                body,
                headers,
                expiration=str(max(round(decision.delay * 1000), 1)),
            )
            log.warning(
                kv(
                    event="retry",
                    job=job,
                    event_id=event_id,
                    failures=decision.failures,
                    retry_in=f"{decision.delay:.1f}s",
                    error=decision.error,
                )
            )
        elif isinstance(decision, Park):
            headers = dict(properties.headers or {})
            headers[ATTEMPTS_HEADER] = decision.failures
            headers[PARKED_REASON_HEADER] = decision.reason[:1000]
            headers[PARKED_AT_HEADER] = dt.datetime.now(dt.UTC).isoformat()
            _republish(channel, "", self.queue.parked, properties, body, headers)
            log.error(
                kv(
                    event="parked",
                    job=job,
                    event_id=event_id,
                    failures=decision.failures,
                    queue=self.queue.parked,
                    reason=decision.reason,
                )
            )
        else:
            failures = failures_so_far(properties.headers)
            log.info(kv(event=decision.outcome, job=job, event_id=event_id, failures=failures))
        channel.basic_ack(tag)

    def _drain(self, connection: pika.BlockingConnection) -> None:
        """On stop: drop the messages not started (they are redelivered), settle the one in hand."""
        for future in self._in_flight:
            future.cancel()
        deadline = time.monotonic() + DRAIN_SECONDS
        while any(not f.done() for f in self._in_flight) and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.2)
        connection.process_data_events(time_limit=0)  # run the settles the worker scheduled

    # --- on the worker thread ---

    def _work(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        tag: int,
        properties: pika.BasicProperties,
        body: bytes,
        event: Outcome,
        failures: int,
    ) -> None:
        try:
            decision = self.delivery.handle(event, failures)
        except Exception as exc:  # a bug must not lose the message: treat it like a failed send
            log.exception(kv(event="delivery_error", job=event.job.name, event_id=event.event_id))
            decision = self.delivery.policy.after_failure(failures + 1, f"internal error: {_describe(exc)}")
        settle = functools.partial(self._settle, channel, tag, properties, body, event, decision)
        try:
            connection.add_callback_threadsafe(settle)
        except pika.exceptions.ConnectionWrongStateError:
            log.warning(
                kv(
                    event="not_acked",
                    job=event.job.name,
                    event_id=event.event_id,
                    why="broker connection lost; the message will be redelivered",
                )
            )


def _republish(
    channel: BlockingChannel,
    exchange: str,
    routing_key: str,
    properties: pika.BasicProperties,
    body: bytes,
    headers: dict,
    expiration: str | None = None,
) -> None:
    channel.basic_publish(
        exchange,
        routing_key,
        body,
        pika.BasicProperties(
            delivery_mode=PERSISTENT,
            content_type=properties.content_type,
            message_id=properties.message_id,
            headers=headers,
            expiration=expiration,
        ),
        mandatory=True,
    )


def _describe(exc: BaseException) -> str:
    # pika's connection errors have an empty str(); their repr names the cause
    return f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)
