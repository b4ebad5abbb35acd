"""Publishing ``conversion.requested``: persistent, mandatory, confirmed by the broker.

pika's BlockingConnection is not thread-safe, so one connection is shared behind a lock and
used from worker threads (``anyio.to_thread``). A BlockingConnection only answers heartbeats while
it is used, so the broker drops one left idle for two heartbeat intervals: a connection idle for
most of one interval is replaced before use, and a publish that still meets a broken connection
is retried once on a new one (the event id is stable: a duplicate is harmless to the idempotent
consumers).
"""

from __future__ import annotations

import logging
import threading
import time

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from common import events, messaging
from common.logs import kv

log = logging.getLogger("gateway.events")

_RETRYABLE = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, OSError)
HEARTBEAT_SECONDS = 30
IDLE_SECONDS = HEARTBEAT_SECONDS * 0.8  # replace a connection idle this long before using it


class PublishFailed(Exception):
    """The broker did not confirm the event."""


class Publisher:
    def __init__(
        self,
        url: str,
        requested_queue: str = "operator.requested",
        name: str = "mp4mp3-gateway",
        timeout: float = 10.0,
    ) -> None:
        self._params = pika.URLParameters(url)
        self._params.client_properties = {"connection_name": name}
        self._params.heartbeat = HEARTBEAT_SECONDS
        self._params.blocked_connection_timeout = timeout
        self._params.socket_timeout = timeout
        self._params.stack_timeout = timeout
        self._params.connection_attempts = 1
        self._requested_queue = requested_queue
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._used_at = 0.0  # monotonic time the connection last did something

    def publish(self, event: events.ConversionRequested) -> None:
        """Blocking; returns once the broker confirmed, raises PublishFailed otherwise."""
        started = time.monotonic()
        with self._lock:
            for attempt in (1, 2):
                try:
                    channel = self._ensure_channel()
                    messaging.publish(channel, event.type, event.body(), message_id=event.event_id)
                    break
                except _RETRYABLE as exc:
                    self._drop()
                    if attempt == 2:
                        raise PublishFailed(f"the broker is unreachable: {exc!r}") from exc
                    log.info(kv(event="broker.reconnecting", job=event.job.name, error=type(exc).__name__))
                except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
                    raise PublishFailed(f"the broker refused the event: {exc!r}") from exc
        log.info(
            kv(
                event="event.published",
                job=event.job.name,
                type=event.type,
                event_id=event.event_id,
                ms=round((time.monotonic() - started) * 1000),
            )
        )

    def ping(self) -> None:
        """Raise unless the broker answers (used by /readyz)."""
        if not self._lock.acquire(timeout=5):
            return  # a publish holds the connection right now: it is in use, hence up
        try:
            try:
                self._ensure_channel()
                assert self._connection is not None
                self._connection.process_data_events(0)
            except _RETRYABLE:
                self._drop()
                self._ensure_channel()
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _ensure_channel(self) -> BlockingChannel:
        if time.monotonic() - self._used_at > IDLE_SECONDS:
            self._drop()  # the broker may be about to give up on it: start afresh
        self._used_at = time.monotonic()
        if self._connection is None or not self._connection.is_open or self._channel is None:
            self._drop()
            self._connection = pika.BlockingConnection(self._params)
            channel = self._connection.channel()
            channel.confirm_delivery()
            messaging.declare_topology(channel)
            # the operator's queue, declared here too (same arguments: none), so that a request
            # published before the operator ever started is kept rather than unroutable
            channel.queue_declare(self._requested_queue, durable=True)
            channel.queue_bind(self._requested_queue, messaging.EVENTS_EXCHANGE, events.REQUESTED)
            self._channel = channel
        return self._channel

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # closing a broken connection may fail in many ways; it is gone either way
                log.debug(kv(event="broker.close_failed"))
