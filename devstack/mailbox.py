"""Reading the devstack SMTP server's mail folder (one .eml file per accepted message)."""

from __future__ import annotations

import email
import email.policy
import time
from email.message import EmailMessage
from pathlib import Path


def messages(mail_dir: Path, recipient: str, containing: str = "") -> list[tuple[Path, EmailMessage]]:
    """Messages to ``recipient`` whose raw text contains ``containing``, oldest first."""
    found = []
    for path in sorted(mail_dir.glob("*.eml")):
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        to = str(message.get("X-Envelope-To", "")) + "," + str(message.get("To", ""))
        if recipient.lower() in to.lower() and containing.encode() in raw:
            found.append((path, message))
    return found


def wait_for(
    mail_dir: Path, recipient: str, containing: str = "", timeout: float = 60
) -> tuple[Path, EmailMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = messages(mail_dir, recipient, containing)
        if found:
            return found[0]
        time.sleep(0.3)
    raise TimeoutError(
        f"no email to {recipient} containing {containing!r} in {mail_dir} after {timeout:.0f} s"
    )


def text_of(message: EmailMessage, kind: str = "plain") -> str:
    body = message.get_body(preferencelist=(kind,))
    return body.get_content() if body is not None else ""
