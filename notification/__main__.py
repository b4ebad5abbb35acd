"""``python -m notification``: consume outcome events and email their owners until SIGTERM."""

from __future__ import annotations

import functools
import logging
import signal
import sys
from types import FrameType

from common.consumer import Consumer
from common.logs import kv
from common.startup import load_settings
from notification.consumer import build_consumer
from notification.dedupe import SentLog
from notification.delivery import Delivery
from notification.mail import MailSettings, Outcome, compose
from notification.settings import Settings, get_settings
from notification.smtp import SmtpSender

log = logging.getLogger("notification")


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

    def stop(_signum: int, _frame: FrameType | None) -> None:
        consumer.stop()  # only sets a flag: nothing in a signal handler that could take a lock

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        kv(
            event="notification.started",
            queue=settings.queue,
            smtp=f"{settings.smtp_host}:{settings.smtp_port}",
            starttls=settings.smtp_starttls,
            max_attempts=settings.max_attempts,
        )
    )
    consumer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
