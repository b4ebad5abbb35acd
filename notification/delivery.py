"""What one outcome event becomes: an email sent once, or a decision to retry it or park it.

Runs on the consumer's worker thread; knows nothing of RabbitMQ (the consumer carries the decision
out: ack, republish to the retry queue, or park).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from pymongo.errors import PyMongoError

from common.logs import kv
from notification.dedupe import SentLog
from notification.mail import InvalidRecipient, Outcome
from notification.retry import Decision, Done, Park, RetryPolicy
from notification.smtp import PermanentSendError, SmtpSender, TransientSendError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    sent: SentLog
    sender: SmtpSender
    compose: Callable[[Outcome], EmailMessage]
    policy: RetryPolicy

    def handle(self, event: Outcome, failures: int) -> Decision:
        """Email ``event``'s owner unless done before; ``failures`` earlier sends of it failed."""
        try:
            if self.sent.was_sent(event.event_id):
                return Done("duplicate")
        except PyMongoError as exc:
            return self.policy.after_failure(failures + 1, f"sent-events store unavailable: {exc}")
        try:
            message = self.compose(event)
        except InvalidRecipient as exc:
            return Park(failures, str(exc))
        try:
            self.sender.send(message)
        except PermanentSendError as exc:
            return Park(failures + 1, f"the mail server refused the message for good: {exc}")
        except TransientSendError as exc:
            return self.policy.after_failure(failures + 1, str(exc))
        try:
            self.sent.record(event.event_id, event.job.name)
        except PyMongoError as exc:
            # the mail is out: acking is right; a later duplicate of this event would mail again
            log.error(kv(event="sent_not_recorded", job=event.job.name, event_id=event.event_id, error=exc))
        return Done("sent")
