"""The notification consumer rides out outages of its SMTP server and of RabbitMQ, on throwaway
copies of both (the shared devstack's servers are never stopped)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.process import port_open
from devstack.servers.rabbitmq import RabbitMQ
from devstack.servers.smtp import MailServer
from tests.support.notification_harness import Notifier, mails_to, succeeded_event, unique

pytestmark = pytest.mark.devstack


def retries_of(notifier: Notifier, event_id: str) -> int:
    return len(re.findall(rf"event=message.retried .*event_id={event_id}", notifier.log()))


def test_email_is_delivered_once_after_the_smtp_server_comes_back(
    start_notifier: Callable[..., Notifier], own_smtp: MailServer
) -> None:
    mail_dir = own_smtp.cfg.mail_dir
    notifier = start_notifier(smtp_port=own_smtp.cfg.ports.smtp, NOTIFY_MAX_ATTEMPTS="100")
    recipient = f"{unique('fay')}@example.test"
    event = succeeded_event(recipient)

    own_smtp.stop()
    assert not port_open(own_smtp.cfg.ports.smtp)
    notifier.publish(event)
    notifier.wait(lambda: retries_of(notifier, event.event_id) >= 3, 30, "3 failed sends while SMTP is down")
    assert mails_to(mail_dir, recipient) == []
    own_smtp.start()
    back = time.monotonic()
    notifier.wait(lambda: len(mails_to(mail_dir, recipient)) >= 1, 30, "the mail once SMTP is back")
    print(f"delivered {time.monotonic() - back:.1f} s after the SMTP server came back")

    sentinel = succeeded_event(f"{unique('sentinel')}@example.test")
    notifier.publish(sentinel)  # handled after anything left of the first event
    notifier.wait(lambda: len(mails_to(mail_dir, sentinel.owner.email)) == 1, 30, "the sentinel's mail")
    assert len(mails_to(mail_dir, recipient)) == 1
    assert notifier.count(f"{notifier.queue}.parked") == 0


def test_consumer_survives_a_rabbitmq_restart_without_being_restarted(
    start_notifier: Callable[..., Notifier], own_rabbitmq: RabbitMQ, mail_dir: Path
) -> None:
    notifier = start_notifier(amqp_url=own_rabbitmq.env()["AMQP_URL"])
    pid = notifier.proc.pid if notifier.proc else None
    before, after = (succeeded_event(f"{unique(who)}@example.test") for who in ("gus", "hal"))
    notifier.publish(before)
    notifier.wait(lambda: len(mails_to(mail_dir, before.owner.email)) == 1, 30, "the mail before the restart")

    own_rabbitmq.stop()
    notifier.wait(lambda: "event=broker.unavailable" in notifier.log(), 30, "the consumer to notice")
    own_rabbitmq.start()
    back = time.monotonic()
    notifier.publish(after)  # the queue is durable: it waits there until the consumer is back
    notifier.wait(lambda: len(mails_to(mail_dir, after.owner.email)) == 1, 60, "the mail after the restart")
    print(f"consumer back and mailing {time.monotonic() - back:.1f} s after RabbitMQ came back")

    assert notifier.alive() and notifier.proc is not None and notifier.proc.pid == pid
    assert notifier.consumers() == 1
    assert len(mails_to(mail_dir, before.owner.email)) == 1  # nothing sent twice by the reconnect
