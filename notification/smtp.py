"""Hand a mail to the SMTP server, with timeouts, STARTTLS and login when configured.

Failures are sorted once, here: ``PermanentSendError`` when the server refused this very message
for good (5xx on its recipient or content: retrying cannot help), ``TransientSendError`` for
everything else (server down, timeouts, 4xx, login/TLS trouble that an operator can fix).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage


class SendError(Exception):
    """The mail was not accepted; the message says why in a few words."""


class TransientSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


@dataclass(frozen=True)
class SmtpSender:
    host: str
    port: int
    timeout: float
    starttls: bool = True
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None  # None: verify the server's certificate against the system's CAs

    def send(self, message: EmailMessage) -> None:
        """Return only once the server accepted ``message`` for delivery."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                if self.user is not None and self.password is not None:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = _error_class(codes)
            raise error(f"recipient refused: {_responses(exc.recipients)}") from exc
        except smtplib.SMTPDataError as exc:
            error = _error_class([exc.smtp_code])
            raise error(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPResponseException as exc:
            raise TransientSendError(
                f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            detail = str(exc) or "no detail"
            raise TransientSendError(f"{type(exc).__name__}: {detail} ({self.host}:{self.port})") from exc


def _error_class(codes: list[int]) -> type[SendError]:
    return PermanentSendError if codes and all(500 <= code < 600 for code in codes) else TransientSendError


def _responses(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr}: {code} {_text(text)}" for addr, (code, text) in recipients.items())


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
