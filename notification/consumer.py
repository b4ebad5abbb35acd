"""The notification service's consumers: outcome events from its two queues, each handed by the common
consumer loop (which acks, retries or parks it and reconnects when the broker goes away;
``common.consumer``) to ``Delivery`` (an email sent once) or ``WebhookDelivery`` (signed POSTs)."""

from __future__ import annotations

from common.consumer import Consumer, MalformedMessage, Reconnect, parse_event
from common.events import FAILED, SUCCEEDED, ConversionFailed, ConversionSucceeded
from common.messaging import ConsumerQueue
from common.retries import RetryPolicy
from notification import metrics
from notification.delivery import Delivery
from notification.mail import Outcome
from notification.settings import Settings
from notification.webhooks import WebhookDelivery

OUTCOME_KEYS = (SUCCEEDED, FAILED)
CONNECTION_NAME = "notification"


def parse_outcome(body: bytes) -> Outcome:
    """An outcome event; ``MalformedMessage`` for anything else (it is parked, never retried)."""
    event = parse_event(body)
    if not isinstance(event, ConversionSucceeded | ConversionFailed):
        raise MalformedMessage(f"not an outcome event: {event.type}")
    return event


def consumer_queue(name: str, max_delay_seconds: float) -> ConsumerQueue:
    return ConsumerQueue(name, OUTCOME_KEYS, retry_delay_ms=round(max_delay_seconds * 1000))


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        initial_delay=settings.retry_initial_delay_seconds,
        factor=settings.retry_backoff_factor,
        max_delay=settings.retry_max_delay_seconds,
    )


def build_webhook_consumer(settings: Settings, delivery: WebhookDelivery) -> Consumer[Outcome]:
    # the handler parks a URL after its last attempt and records it; the loop's own limit is one
    # higher so that it never parks a message before the handler has recorded why
    policy = RetryPolicy(
        max_attempts=settings.webhook_max_attempts + 1,
        initial_delay=settings.webhook_retry_initial_delay_seconds,
        factor=settings.webhook_retry_backoff_factor,
        max_delay=settings.webhook_retry_max_delay_seconds,
    )
    return Consumer(
        settings.amqp_url.get_secret_value(),
        consumer_queue(settings.webhook_queue, settings.webhook_retry_max_delay_seconds),
        delivery.handle,
        parse_outcome,
        policy,
        name=f"{CONNECTION_NAME}-webhooks",
        events_exchange=settings.events_exchange,
        prefetch=settings.prefetch,
        workers=1,
        reconnect=Reconnect(settings.reconnect_initial_delay_seconds, settings.reconnect_max_delay_seconds),
        on_settled=metrics.settled_counter("webhooks"),
    )


def build_consumer(settings: Settings, delivery: Delivery) -> Consumer[Outcome]:
    # one worker: messages in queue order, so a duplicate is checked after its first copy was recorded
    return Consumer(
        settings.amqp_url.get_secret_value(),
        consumer_queue(settings.queue, settings.retry_max_delay_seconds),
        delivery.handle,
        parse_outcome,
        retry_policy(settings),
        name=CONNECTION_NAME,
        events_exchange=settings.events_exchange,
        prefetch=settings.prefetch,
        workers=1,
        reconnect=Reconnect(settings.reconnect_initial_delay_seconds, settings.reconnect_max_delay_seconds),
        on_settled=metrics.settled_counter("mail"),
    )
