"""What one outcome event becomes: an email sent once, or a verdict to retry it or park it.

Runs on the consumer loop's worker thread; knows nothing of RabbitMQ (the loop carries the verdict
out: ack, republish to the retry queue, or park, and parks for good after the last attempt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from pymongo.errors import PyMongoError

from common.logs import kv
from common.retries import Ack, Park, Retry, Verdict
from notification import metrics
from notification.dedupe import SentLog
from notification.mail import InvalidRecipient, Outcome
from notification.smtp import PermanentSendError, SmtpSender, TransientSendError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    sent: SentLog
    sender: SmtpSender
    compose: Callable[[Outcome], EmailMessage]

    def handle(self, event: Outcome) -> Verdict:
        """Email ``event``'s owner unless done before, or they asked for no email (``spec.notify``)."""
        if not event.notify_email:
            return Ack("mail.disabled")
        try:
            if self.sent.was_sent(event.event_id):
                return Ack("mail.duplicate")
        except PyMongoError as exc:
            return Retry(f"sent-events store unavailable: {exc}")
        try:
            message = self.compose(event)
        except InvalidRecipient as exc:
            return Park(str(exc), attempted=False)
        try:
            self.sender.send(message)
        except PermanentSendError as exc:
            return Park(f"the mail server refused the message for good: {exc}")
        except TransientSendError as exc:
            return Retry(str(exc))
        metrics.EMAILS_SENT.inc()
        try:
            self.sent.record(event.event_id, event.job.name)
        except PyMongoError as exc:
            # the mail is out: acking is right; a later duplicate of this event would mail again
            log.error(kv(event="mail.not_recorded", job=event.job.name, event_id=event.event_id, error=exc))
        return Ack("mail.sent")
