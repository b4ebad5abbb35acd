"""The one RabbitMQ consumer loop every consuming service runs around its own handler.

Prefetch and manual acks after the handler's side effect. A message the handler wants retried is
republished to ``Q.retry`` with a per-message ``expiration`` growing with its failure count (the
queue's x-message-ttl is the longest delay; RabbitMQ applies the lower of the two, and per-message
TTLs expire only at the head of a queue, so delays can stretch, never shrink, never beyond the
cap); it is parked after the policy's last attempt; a malformed message is parked at once; a lost
broker is reconnected with backoff. pika's BlockingConnection is not thread-safe: only the loop's
thread touches it; handlers run in worker threads and their verdicts are settled back on the
connection's thread through ``add_callback_threadsafe``.

Queues and publishing: ``common.messaging``; verdicts and the retry policy: ``common.retries``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic
from pydantic import ValidationError

from common import events
from common.events import ConversionFailed, ConversionRequested, ConversionSucceeded
from common.logs import kv
from common.messaging import (
    EVENTS_EXCHANGE,
    RETRY_EXCHANGE,
    ConsumerQueue,
    connect,
    declare_topology,
    publish,
)
from common.retries import (
    ATTEMPTS_HEADER,
    PARKED_AT_HEADER,
    PARKED_REASON_HEADER,
    Ack,
    Parking,
    Requeue,
    Retry,
    RetryPolicy,
    Verdict,
    failures_so_far,
)

Event = ConversionRequested | ConversionSucceeded | ConversionFailed
E = TypeVar("E", bound=Event)


class MalformedMessage(ValueError):
    """A message that is not an event its consumer can use: retrying it can never help."""


def parse_event(body: bytes) -> Event:
    """Any event of ``common.events``; ``MalformedMessage`` (saying where) for anything else."""
    try:
        return events.parse(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise MalformedMessage(f"{exc.error_count()} error(s); first at {where}: {first['msg']}") from None


@dataclass(frozen=True)
class Reconnect:
    """Waits between attempts to reach the broker: doubling from ``initial`` up to ``max``."""

    initial: float = 0.5
    max: float = 30.0


class Consumer(Generic[E]):
    """Consume ``queue`` until ``stop``: each message is parsed (``parse``; a ``MalformedMessage``
    is parked at once), handed to ``handler`` in a worker thread, and settled by the handler's
    verdict as ``policy`` says (then ``on_settled`` hears what was done). ``workers=1`` keeps
    messages in queue order (a duplicate is then always checked after its first copy was recorded)."""

    def __init__(
        self,
        amqp_url: str,
        queue: ConsumerQueue,
        handler: Callable[[E], Verdict],
        parse: Callable[[bytes], E],
        policy: RetryPolicy,
        *,
        name: str,
        events_exchange: str = EVENTS_EXCHANGE,
        prefetch: int = 10,
        workers: int = 1,
        reconnect: Reconnect = Reconnect(),
        drain_seconds: float = 30.0,
        on_settled: Callable[[Ack | Requeue | Parking], None] | None = None,
    ) -> None:
        self.amqp_url, self.queue, self.name = amqp_url, queue, name
        self.handler, self.parse, self.policy = handler, parse, policy
        self.events_exchange, self.prefetch, self.reconnect = events_exchange, prefetch, reconnect
        self.drain_seconds = drain_seconds
        self.on_settled = on_settled  # e.g. a metrics counter; called on the connection's thread
        self.log = logging.getLogger(f"consumer.{queue.name}")
        self._stop = threading.Event()
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._in_flight: list[Future[None]] = []
        self._backoff = reconnect.initial
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the loop in a background thread (for a process that has its own main loop)."""
        self._thread = threading.Thread(target=self.run, name=f"{self.name}-consumer", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Only ask the loop to finish (safe from a signal handler, never waits)."""
        self._stop.set()

    def stop(self) -> None:
        """Ask the loop to finish the messages in hand and return. Without a thread from ``start``
        this only sets a flag (safe from a signal handler); with one, waits for it to finish."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.drain_seconds + 5)

    def run(self) -> None:
        """Consume until ``stop``; a lost or refused broker connection is retried with backoff."""
        try:
            while not self._stop.is_set():
                try:
                    self._consume()
                    continue  # returns only once stopped
                except (pika.exceptions.AMQPError, OSError) as exc:
                    self.log.warning(kv(event="broker.unavailable", **self._reconnecting(exc)))
                except Exception as exc:  # never die on a bug: say so loudly and start over
                    self.log.exception(kv(event="consumer.crashed", **self._reconnecting(exc)))
                self._stop.wait(self._backoff)
                self._backoff = min(self._backoff * 2, self.reconnect.max)
        finally:
            self._workers.shutdown(wait=True, cancel_futures=True)
            self.log.info(kv(event="consumer.stopped", queue=self.queue.name))

    def _reconnecting(self, exc: BaseException) -> dict[str, str]:
        return {"queue": self.queue.name, "error": _describe(exc), "retry_in": f"{self._backoff:.1f}s"}

    # --- on the connection's thread ---

    def _consume(self) -> None:
        connection = connect(self.amqp_url, self.name)
        try:
            channel = connection.channel()
            channel.confirm_delivery()  # a retry/park republish returns only once the broker has it
            declare_topology(channel, [self.queue], events_exchange=self.events_exchange)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.basic_consume(self.queue.name, functools.partial(self._on_message, connection))
            self.log.info(kv(event="consumer.started", queue=self.queue.name, exchange=self.events_exchange))
            self._backoff = self.reconnect.initial
            while not self._stop.is_set():
                connection.process_data_events(time_limit=1)
                self._in_flight = [f for f in self._in_flight if not f.done()]
            self.log.info(
                kv(event="consumer.stopping", queue=self.queue.name, in_flight=len(self._in_flight))
            )
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
        message = _Message(channel, method.delivery_tag, properties, body)
        try:
            event = self.parse(body)
        except MalformedMessage as exc:
            self._settle(message, None, Parking(message.failures, f"malformed: {exc}"))
            return
        work = functools.partial(self._work, connection, message, event)
        self._in_flight.append(self._workers.submit(work))

    def _settle(self, message: _Message, event: E | None, action: Ack | Requeue | Parking) -> None:
        if not message.channel.is_open:
            return  # the broker requeued it when the channel closed
        about = {
            "job": event.job.name if event else "-",
            "event_id": event.event_id if event else message.properties.message_id or "-",
            "queue": self.queue.name,
        }
        if isinstance(action, Requeue):
            self._requeue(message, action)
            self.log.warning(
                kv(
                    event="message.retried",
                    **about,
                    failures=action.failures,
                    retry_in=f"{action.delay:.1f}s",
                    error=action.error,
                )
            )
        elif isinstance(action, Parking):
            self._park(message, action)
            self.log.error(
                kv(event="message.parked", **about, failures=action.failures, reason=action.reason)
            )
        else:
            self.log.info(kv(event=action.event, **about, failures=message.failures))
        message.channel.basic_ack(message.tag)
        if self.on_settled is not None:
            self.on_settled(action)

    def _requeue(self, message: _Message, action: Requeue) -> None:
        # RabbitMQ's own x-death bookkeeping is dropped: our header counts the failures
        headers = {k: v for k, v in (message.properties.headers or {}).items() if not k.startswith("x-")}
        headers[ATTEMPTS_HEADER] = action.failures
        message.republish(
            RETRY_EXCHANGE, self.queue.retry, headers, expiration=str(max(round(action.delay * 1000), 1))
        )

    def _park(self, message: _Message, action: Parking) -> None:
        headers = dict(message.properties.headers or {})
        headers[ATTEMPTS_HEADER] = action.failures
        headers[PARKED_REASON_HEADER] = action.reason[:1000]
        headers[PARKED_AT_HEADER] = dt.datetime.now(dt.UTC).isoformat()
        message.republish("", self.queue.parked, headers)

    def _drain(self, connection: pika.BlockingConnection) -> None:
        """On stop: drop the messages not started (they are redelivered), settle those in hand."""
        for future in self._in_flight:
            future.cancel()
        deadline = time.monotonic() + self.drain_seconds
        while any(not f.done() for f in self._in_flight) and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.2)
        connection.process_data_events(time_limit=0)  # run the settles the workers scheduled

    # --- on a worker thread ---

    def _work(self, connection: pika.BlockingConnection, message: _Message, event: E) -> None:
        try:
            verdict = self.handler(event)
        except Exception as exc:  # a bug must not lose the message: treat it like the world's fault
            self.log.exception(kv(event="handler.crashed", job=event.job.name, event_id=event.event_id))
            verdict = Retry(f"internal error: {_describe(exc)}")
        settle = functools.partial(
            self._settle, message, event, self.policy.settle(verdict, message.failures)
        )
        try:
            connection.add_callback_threadsafe(settle)
        except pika.exceptions.ConnectionWrongStateError:
            self.log.warning(
                kv(
                    event="message.not_acked",
                    job=event.job.name,
                    event_id=event.event_id,
                    why="broker connection lost; the message will be redelivered",
                )
            )


@dataclass(frozen=True)
class _Message:
    """One delivery, as the connection's thread needs it to settle it."""

    channel: BlockingChannel
    tag: int
    properties: pika.BasicProperties
    body: bytes

    @property
    def failures(self) -> int:
        return failures_so_far(self.properties.headers)

    def republish(
        self, exchange: str, routing_key: str, headers: dict, expiration: str | None = None
    ) -> None:
        publish(
            self.channel,
            routing_key,
            self.body,
            self.properties.message_id,
            exchange,
            headers,
            content_type=self.properties.content_type,
            expiration=expiration,
        )


def _describe(exc: BaseException) -> str:
    # pika's connection errors have an empty str(); their repr names the cause
    return f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)
