"""The notification consumer against the devstack's RabbitMQ, FerretDB and SMTP server: what users
receive, and what happens to duplicates, malformed messages and mail that cannot be sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from common.retries import ATTEMPTS_HEADER, PARKED_REASON_HEADER
from devstack.config import Ports
from devstack.process import port_open
from tests.support.notification_harness import (
    BOUNCER_OFFSET,
    CLOSED_PORT_OFFSET,
    MAIL_FROM,
    NOTIFY_PUBLIC_URL,
    Notifier,
    failed_event,
    mails_to,
    succeeded_event,
    unique,
)

pytestmark = pytest.mark.devstack

MAIL_TIMEOUT = 30


def wait_for_mails(notifier: Notifier, mail_dir: Path, recipient: str, count: int = 1) -> list[EmailMessage]:
    notifier.wait(
        lambda: len(mails_to(mail_dir, recipient)) >= count, MAIL_TIMEOUT, f"{count} mail(s) to {recipient}"
    )
    return mails_to(mail_dir, recipient)


def bodies(msg: EmailMessage) -> tuple[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None, "both a plain-text and an HTML part"
    return text.get_content(), html.get_content()


def test_success_email_links_the_mp3_in_both_parts(
    start_notifier: Callable[..., Notifier], mail_dir: Path
) -> None:
    notifier = start_notifier()
    recipient = f"{unique('ann')}@example.test"
    event = succeeded_event(recipient, filename="Concert 2024.mp4")

    notifier.publish(event)

    [mail] = wait_for_mails(notifier, mail_dir, recipient)
    text, html = bodies(mail)
    url = f"{NOTIFY_PUBLIC_URL}/jobs/{event.job.name}/mp3"
    assert mail["From"] == MAIL_FROM and mail["To"] == recipient
    assert "Concert 2024.mp4" in mail["Subject"]
    assert url in text and f'href="{url}"' in html
    assert "Concert 2024.mp4" in text and "Concert 2024.mp4" in html
    assert mail["X-Mp4mp3-Job"] == event.job.name


def test_failure_email_gives_the_reason_in_words(
    start_notifier: Callable[..., Notifier], mail_dir: Path
) -> None:
    notifier = start_notifier()
    recipient = f"{unique('bob')}@example.test"
    event = failed_event(recipient, filename="screen-recording.mp4")

    notifier.publish(event)

    [mail] = wait_for_mails(notifier, mail_dir, recipient)
    text, html = bodies(mail)
    assert "screen-recording.mp4" in mail["Subject"]
    for body in (text, html):
        assert "The video has no audio track to convert." in body
        assert event.job.name in body
        assert "/mp3" not in body  # nothing to download


def test_duplicated_succeeded_event_yields_exactly_one_email(
    start_notifier: Callable[..., Notifier], mail_dir: Path
) -> None:
    notifier = start_notifier()
    recipient = f"{unique('cat')}@example.test"
    event = succeeded_event(recipient)
    sentinel = succeeded_event(f"{unique('sentinel')}@example.test")

    notifier.publish(event)
    notifier.publish(event)  # the operator re-published after a crash, say
    wait_for_mails(notifier, mail_dir, recipient)
    notifier.publish(event)  # ...and once more after the first was recorded
    notifier.publish(sentinel)  # queue order: once its mail is out, every copy above was handled
    wait_for_mails(notifier, mail_dir, sentinel.owner.email)

    assert len(mails_to(mail_dir, recipient)) == 1
    assert notifier.log().count("event=mail.duplicate") == 2


def test_no_email_when_the_job_asked_for_none(
    start_notifier: Callable[..., Notifier], mail_dir: Path
) -> None:
    notifier = start_notifier()
    quiet, loud = f"{unique('quiet')}@example.test", f"{unique('loud')}@example.test"
    unwanted = succeeded_event(quiet).model_copy(update={"notify_email": False})  # spec.notify.email: false

    notifier.publish(unwanted)
    notifier.publish(succeeded_event(loud))

    wait_for_mails(notifier, mail_dir, loud)  # one consumer, in queue order: the first was handled
    assert mails_to(mail_dir, quiet) == []
    assert "event=mail.disabled" in notifier.log()


def test_malformed_messages_are_parked_and_the_consumer_keeps_going(
    start_notifier: Callable[..., Notifier], mail_dir: Path
) -> None:
    notifier = start_notifier()
    missing_fields = b'{"type": "conversion.succeeded", "event_id": "x"}'
    requested = b'{"type": "conversion.requested", "event_id": "y"}'

    for body in (b"{not json", missing_fields, requested, b"\xff\xfe"):
        notifier.publish(body)
    notifier.wait(lambda: notifier.count(f"{notifier.queue}.parked") == 4, 20, "4 parked messages")

    parked = notifier.take_parked()
    assert [body for _, body in parked] == [b"{not json", missing_fields, requested, b"\xff\xfe"]
    assert all(str(props.headers[PARKED_REASON_HEADER]).startswith("malformed") for props, _ in parked)
    assert notifier.alive()
    recipient = f"{unique('dan')}@example.test"
    notifier.publish(succeeded_event(recipient))
    assert len(wait_for_mails(notifier, mail_dir, recipient)) == 1


def test_mail_that_keeps_failing_is_parked_after_max_attempts(
    start_notifier: Callable[..., Notifier], mail_dir: Path
) -> None:
    dead_port = Ports(offset=CLOSED_PORT_OFFSET).smtp
    assert not port_open(dead_port)
    notifier = start_notifier(
        smtp_port=dead_port,
        NOTIFY_MAX_ATTEMPTS="3",
        NOTIFY_RETRY_INITIAL_DELAY_SECONDS="0.2",
        NOTIFY_RETRY_MAX_DELAY_SECONDS="1",
    )
    recipient = f"{unique('eve')}@example.test"
    event = succeeded_event(recipient)

    started = time.monotonic()
    notifier.publish(event)
    notifier.wait(lambda: notifier.count(f"{notifier.queue}.parked") == 1, 30, "the message to be parked")
    elapsed = time.monotonic() - started

    [(props, body)] = notifier.take_parked()
    assert body == event.body()
    assert props.headers[ATTEMPTS_HEADER] == 3
    reason = str(props.headers[PARKED_REASON_HEADER])
    assert "3 failed attempts" in reason and "Connection refused" in reason
    assert notifier.count(notifier.queue) == 0 and notifier.count(f"{notifier.queue}.retry") == 0
    assert notifier.log().count("event=message.retried") == 2  # tries 1 and 2 were retried, try 3 parked
    assert elapsed >= 0.2 + 0.4  # the two waits between the three tries, growing
    assert mails_to(mail_dir, recipient) == []
    assert notifier.alive()


class Bouncer:
    """A real SMTP server that refuses every recipient for good (550), as for a deleted mailbox."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        return "550 5.1.1 mailbox unavailable"


@pytest.fixture
def bouncer() -> Iterator[int]:
    port = Ports(offset=BOUNCER_OFFSET).smtp
    controller = Controller(Bouncer(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def test_a_recipient_refused_for_good_is_parked_at_once(
    start_notifier: Callable[..., Notifier], bouncer: int
) -> None:
    notifier = start_notifier(smtp_port=bouncer, NOTIFY_MAX_ATTEMPTS="5")
    event = succeeded_event(f"{unique('gone')}@example.test")

    notifier.publish(event)
    notifier.wait(lambda: notifier.count(f"{notifier.queue}.parked") == 1, 20, "the message to be parked")

    [(props, _)] = notifier.take_parked()
    assert props.headers[ATTEMPTS_HEADER] == 1
    assert "550" in str(props.headers[PARKED_REASON_HEADER])
    assert "event=message.retried" not in notifier.log()
