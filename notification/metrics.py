"""The notification service's Prometheus metrics (``prometheus_client``), served on its metrics port.

- ``mp4mp3_notification_messages_total{consumer,result}``: outcome messages settled by each
  consumer (mail, webhooks); ``result`` is what was done: the handler's ack event (``mail.sent``,
  ``mail.duplicate``, ``mail.disabled``, ``webhook.delivered``, ...), ``retried`` or ``parked``;
- ``mp4mp3_notification_emails_sent_total``: emails the SMTP server accepted;
- ``mp4mp3_notification_webhook_deliveries_total{outcome}``: POSTs to webhooks by result
  (delivered, failing, parked, refused);
- ``mp4mp3_notification_webhook_delivery_seconds``: how long a receiver took to answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter, Histogram

from common import metrics
from common.retries import Ack, Parking, Requeue

log = logging.getLogger("notification")
MESSAGES = Counter(
    "mp4mp3_notification_messages", "Outcome messages settled, by consumer and result", ["consumer", "result"]
)
EMAILS_SENT = Counter("mp4mp3_notification_emails_sent", "Emails the SMTP server accepted")
WEBHOOK_DELIVERIES = Counter(
    "mp4mp3_notification_webhook_deliveries", "POSTs to webhook receivers, by outcome", ["outcome"]
)
WEBHOOK_SECONDS = Histogram(
    "mp4mp3_notification_webhook_delivery_seconds",
    "Time a webhook receiver took to answer",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def settled_counter(consumer: str) -> Callable[[Ack | Requeue | Parking], None]:
    """``Consumer(on_settled=...)`` for ``consumer``: counts each settled message by what was done."""

    def count(action: Ack | Requeue | Parking) -> None:
        if isinstance(action, Requeue):
            result = "retried"
        elif isinstance(action, Parking):
            result = "parked"
        else:
            result = action.event
        MESSAGES.labels(consumer=consumer, result=result).inc()

    return count



def serve(port: int, host: str) -> None:
    """Serve ``/metrics`` on ``port`` (0: not at all); see ``common.metrics``."""
    metrics.serve(port, host, log)
