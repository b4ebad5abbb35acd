"""``python -m notification``: consume outcome events, email their owners and POST them to their
webhooks until SIGTERM; Prometheus metrics on the metrics port."""

from __future__ import annotations

import functools
import logging
import signal
import sys
from types import FrameType

from common.consumer import Consumer
from common.logs import kv
from common.startup import load_settings
from common.webhooks import parse_networks
from notification import metrics
from notification.consumer import build_consumer, build_webhook_consumer
from notification.dedupe import SentLog
from notification.delivery import Delivery
from notification.mail import MailSettings, Outcome, compose
from notification.settings import Settings, get_settings
from notification.smtp import SmtpSender
from notification.webhooks import WebhookDelivery, WebhookStore, http_post

log = logging.getLogger("notification")


def build_webhooks(settings: Settings) -> Consumer[Outcome]:
    delivery = WebhookDelivery(
        store=WebhookStore.connect(settings.mongo_uri.get_secret_value(), settings.mongo_timeout_seconds),
        post=http_post(settings.webhook_timeout_seconds),
        public_url=settings.public_url,
        max_attempts=settings.webhook_max_attempts,
        allowed=parse_networks(settings.webhook_allowed_networks),
    )
    return build_webhook_consumer(settings, delivery)


def build(settings: Settings) -> Consumer[Outcome]:
    delivery = Delivery(
        sent=SentLog.connect(
            settings.mongo_uri.get_secret_value(), settings.sent_collection, settings.mongo_timeout_seconds
        ),
        sender=SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            ca_file=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
        ),
        compose=functools.partial(compose, cfg=_mail_settings(settings)),
    )
    return build_consumer(settings, delivery)


def _mail_settings(settings: Settings) -> MailSettings:
    secret = settings.download_link_secret
    return MailSettings(
        settings.mail_from,
        settings.public_url,
        link_secret=secret.get_secret_value() if secret else None,
        link_ttl_seconds=settings.download_link_ttl_seconds,
    )


def main() -> int:
    settings = load_settings(get_settings, log)
    if settings is None:
        return 2
    # pika logs each failed reconnect as several ERROR lines; the consumer logs one line per attempt
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    consumer = build(settings)
    webhook_consumer = build_webhooks(settings)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # only set flags: nothing in a signal handler that could take a lock
        consumer.stop()
        webhook_consumer.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        kv(
            event="notification.started",
            queue=settings.queue,
            smtp=f"{settings.smtp_host}:{settings.smtp_port}",
            starttls=settings.smtp_starttls,
            max_attempts=settings.max_attempts,
            webhook_queue=settings.webhook_queue,
            metrics_port=settings.metrics_port,
        )
    )
    metrics.serve(settings.metrics_port, settings.metrics_host)
    webhook_consumer.start()
    consumer.run()
    webhook_consumer.stop()  # joins its thread: the deliveries in hand are settled first
    return 0


if __name__ == "__main__":
    sys.exit(main())
