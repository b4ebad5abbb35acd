"""Outcome events (conversion.succeeded / conversion.failed): built from a status (pure), published
with confirms by one thread that owns the RabbitMQ connection (pika connections are not thread-safe)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Mapping
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from common import messaging
from common.events import (
    FAILED,
    SUCCEEDED,
    ConversionFailed,
    ConversionSucceeded,
    JobRef,
    Owner,
    outcome_event_id,
)
from common.logs import kv
from conversion_operator.times import parse_time

log = logging.getLogger("operator.outcomes")
Outcome = ConversionSucceeded | ConversionFailed
RECONNECTABLE = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError)


def outcome_event(cr: Mapping[str, Any], status: Mapping[str, Any]) -> Outcome:
    """The event for a finished ConversionJob; its id is stable, so a replay is recognisably the same."""
    meta, spec = cr["metadata"], cr["spec"]
    phase = status["phase"]
    common_fields: dict[str, Any] = {
        # a retry's outcome is a new event (a new email), a replay of the same one is not
        "event_id": outcome_event_id(
            meta["uid"], phase if not status.get("series") else f"{phase}/{status['series']}"
        ),
        "job": JobRef(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"]),
        "owner": Owner(user_id=spec["owner"]["userId"], email=spec["owner"]["email"]),
        "source_filename": spec["source"]["filename"],
        "notify_email": spec.get("notify", {}).get("email", True),
        "callback_url": spec.get("notify", {}).get("callbackUrl"),
    }
    if status.get("finishedAt"):
        common_fields["occurred_at"] = parse_time(status["finishedAt"])
    if phase == "Succeeded":
        return ConversionSucceeded(
            **common_fields,
            mp3_id=status["mp3Id"],
            mp3_size=status.get("mp3Size"),
            audio_seconds=status.get("audioSeconds"),
            audio_format=status.get("audioFormat") or (spec.get("output") or {}).get("format") or "mp3",
        )
    if phase == "Failed":
        return ConversionFailed(**common_fields, reason=status["reason"], message=status["message"])
    raise ValueError(f"phase {phase!r} has no outcome event")


def routing_key(event: Outcome) -> str:
    return SUCCEEDED if isinstance(event, ConversionSucceeded) else FAILED


_Request = tuple[str, bytes, str, concurrent.futures.Future[None]]


class Publisher:
    """``await publisher.publish(event)`` returns once the broker confirmed the persistent message."""

    def __init__(self, url: str, name: str = "mp4mp3-operator") -> None:
        self.url, self.name = url, name
        self._requests: queue.Queue[_Request] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    async def publish(self, event: Outcome) -> None:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._requests.put((routing_key(event), event.body(), event.event_id, done))
        await asyncio.wrap_future(done)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                key, body, message_id, done = self._requests.get(timeout=1)
            except queue.Empty:
                self._keep_alive()
                continue
            try:
                self._publish(key, body, message_id)
                done.set_result(None)
            except Exception as exc:  # handed to the awaiting coroutine, which retries later
                done.set_exception(exc)
        self._disconnect()

    def _publish(self, key: str, body: bytes, message_id: str) -> None:
        for attempt in (1, 2):  # a connection the broker dropped while idle gets one fresh retry
            try:
                messaging.publish(self._open_channel(), key, body, message_id)
                return
            except RECONNECTABLE as exc:
                self._disconnect()
                if attempt == 2:
                    raise
                log.warning(kv(event="broker.reconnecting", error=type(exc).__name__))

    def _open_channel(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self._connection = messaging.connect(self.url, self.name)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            messaging.declare_topology(self._channel)
        return self._channel

    def _keep_alive(self) -> None:
        """Answer heartbeats while idle, or the broker closes the connection."""
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.process_data_events(time_limit=0)
            except RECONNECTABLE:
                self._disconnect()

    def _disconnect(self) -> None:
        conn, self._connection, self._channel = self._connection, None, None
        if conn is not None and conn.is_open:
            with contextlib.suppress(*RECONNECTABLE):
                conn.close()
