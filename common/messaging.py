"""RabbitMQ the broker's way: one topology function for every service, confirmed persistent
publishes, and retry/parking queues built from dead-letter exchanges and per-queue TTLs (the one
consumer loop that uses them is ``common.consumer``).

Topology (all durable):
- ``mp4mp3.events``  topic exchange every event is published to;
- for each consumer queue Q: ``Q`` bound to its routing keys, ``Q.retry`` (messages wait there
  ``retry_delay`` ms, then dead-letter back to Q) and ``Q.parked`` (messages that failed for good).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pika
from pika.adapters.blocking_connection import BlockingChannel

EVENTS_EXCHANGE = "mp4mp3.events"
RETRY_EXCHANGE = "mp4mp3.retry"  # direct; routing key = the queue name
PERSISTENT = 2


@dataclass(frozen=True)
class ConsumerQueue:
    name: str
    routing_keys: tuple[str, ...]
    retry_delay_ms: int = 5000

    @property
    def retry(self) -> str:
        return f"{self.name}.retry"

    @property
    def parked(self) -> str:
        return f"{self.name}.parked"


def declare_topology(
    channel: BlockingChannel,
    queues: Iterable[ConsumerQueue] = (),
    events_exchange: str = EVENTS_EXCHANGE,
) -> None:
    """Declare the exchanges, and each consumer's queue with its retry and parking queues.
    Idempotent; every service calls it at start. ``events_exchange`` is only ever changed by
    tests that need an exchange of their own (so their events reach no other consumer)."""
    channel.exchange_declare(events_exchange, "topic", durable=True)
    channel.exchange_declare(RETRY_EXCHANGE, "direct", durable=True)
    for q in queues:
        channel.queue_declare(q.name, durable=True)
        for key in q.routing_keys:
            channel.queue_bind(q.name, events_exchange, key)
        # expired retries go back to the main queue through the default exchange
        channel.queue_declare(
            q.retry,
            durable=True,
            arguments={
                "x-message-ttl": q.retry_delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": q.name,
            },
        )
        channel.queue_bind(q.retry, RETRY_EXCHANGE, q.retry)
        channel.queue_declare(q.parked, durable=True)


def connect(url: str, name: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.client_properties = {"connection_name": name}
    params.heartbeat = 30
    params.blocked_connection_timeout = 30
    return pika.BlockingConnection(params)


def publish(
    channel: BlockingChannel,
    routing_key: str,
    body: bytes,
    message_id: str | None,
    exchange: str = EVENTS_EXCHANGE,
    headers: dict | None = None,
    *,
    content_type: str | None = "application/json",
    expiration: str | None = None,
) -> None:
    """Publish persistently; with ``channel.confirm_delivery()`` on, returns only once the broker
    confirmed (pika raises ``UnroutableError``/``NackError`` otherwise). ``expiration``: the
    message's own TTL in ms (a retry's delay)."""
    channel.basic_publish(
        exchange,
        routing_key,
        body,
        pika.BasicProperties(
            delivery_mode=PERSISTENT,
            content_type=content_type,
            message_id=message_id,
            headers=headers or {},
            expiration=expiration,
        ),
        mandatory=True,
    )
