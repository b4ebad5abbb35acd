"""The email a job's owner gets: what was converted and where to download it, or why it failed.

Pure: ``compose`` turns an outcome event into an ``EmailMessage`` with a plain-text and an HTML part,
rendered from ``templates/`` (``string.Template``; every value put into HTML is escaped).
"""

from __future__ import annotations

import datetime as dt
import html
import unicodedata
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import quote, urlencode

from common import links
from common.durations import human_duration
from common.events import ConversionFailed, ConversionSucceeded
from common.formats import audio_format

Outcome = ConversionSucceeded | ConversionFailed

SUBJECT_FILENAME_MAX = 80

# Advice per failure reason (the converter's and the operator's CamelCase codes); any other reason
# (EncoderFailed, BackoffLimitExceeded, ...) is our side's fault and gets DEFAULT_ADVICE.
_CHECK_THE_FILE = "Check that the file is an MP4 video that plays on your computer, then upload it again."
ADVICE = {
    "NoAudioStream": "Upload a video that has a sound track: without one there is nothing to put in an MP3.",
    "NotAVideo": _CHECK_THE_FILE,
    "SourceCorrupted": _CHECK_THE_FILE,
    "TrimOutOfRange": "Choose a start and an end time within the video's length, then upload it again.",
    "SourceMissing": "Please upload the video again.",
    "DeadlineExceeded": "A shorter video will convert in time; you can also try again later.",
}
DEFAULT_ADVICE = (
    "Please try uploading the video again. If it fails again, contact support and quote the job id below."
)
LOGIN_ACCESS = "log in with the account you uploaded it from"
FALLBACK_EXPLANATION = "The conversion stopped because of an error on our side."


class InvalidRecipient(ValueError):
    """The event's owner email is not an address a mail can be sent to (the event is at fault)."""


@dataclass(frozen=True)
class MailSettings:
    sender: str  # From header, e.g. "mp4mp3 <no-reply@example.com>"
    public_url: str  # base URL of the REST API
    link_secret: str | None = None  # signs download links that need no login (common/links.py)
    link_ttl_seconds: int = 7 * 24 * 3600


def compose(event: Outcome, cfg: MailSettings, now: dt.datetime | None = None) -> EmailMessage:
    """The email for ``event``; raises ``InvalidRecipient`` when its owner's address is unusable."""
    recipient = _recipient(event.owner.email)
    filename = _clean(event.source_filename) or "(unnamed video)"
    now = now or dt.datetime.now(dt.UTC)
    if isinstance(event, ConversionSucceeded):
        fmt = audio_format(event.audio_format)
        subject = f"Your {fmt.label} is ready: {_shorten(filename)}"
        url, access = download_url(cfg.public_url, event.job.name), LOGIN_ACCESS
        if cfg.link_secret:
            token = links.sign(
                secret=cfg.link_secret,
                job=event.job.name,
                owner=event.owner.user_id,
                ttl_seconds=cfg.link_ttl_seconds,
                now=int(now.timestamp()),
            )
            url = f"{url}?{urlencode({links.QUERY_PARAMETER: token})}"
            until = now + dt.timedelta(seconds=cfg.link_ttl_seconds)
            access = f"the link works without logging in until {until:%d %B %Y, %H:%M} UTC"
        fields = {
            "filename": filename,
            "label": fmt.label,
            "a_label": fmt.a_label,
            "details": _details(event),
            "download_url": url,
            "access": access,
            "job": event.job.name,
        }
        template = "succeeded"
    else:
        subject = f"We could not convert {_shorten(filename)}"
        fields = {
            "filename": filename,
            "explanation": _clean(event.message) or FALLBACK_EXPLANATION,
            "advice": ADVICE.get(event.reason, DEFAULT_ADVICE),
            "job": event.job.name,
            "reason": _clean(event.reason) or "Unknown",
        }
        template = "failed"

    msg = EmailMessage(policy=SMTP)
    msg["From"] = cfg.sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    # stable per event: a receiving system can drop a copy we might send twice after a crash
    msg["Message-ID"] = f"<{event.event_id}@{_domain(cfg.sender)}>"
    msg["X-Mp4mp3-Job"] = event.job.name
    msg["X-Mp4mp3-Event-Id"] = event.event_id
    msg.set_content(_render(f"{template}.txt", fields))
    msg.add_alternative(_render(f"{template}.html", {k: html.escape(v) for k, v in fields.items()}), "html")
    return msg


def download_url(public_url: str, job: str) -> str:
    return f"{public_url.rstrip('/')}/jobs/{quote(job, safe='')}/mp3"


def human_size(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _details(event: ConversionSucceeded) -> str:
    parts = []
    if event.audio_seconds:
        parts.append(f"{human_duration(event.audio_seconds)} of audio")
    if event.mp3_size:
        parts.append(human_size(event.mp3_size))
    return f" ({', '.join(parts)})" if parts else ""


def _recipient(value: str) -> str:
    if any(c in value for c in "\r\n"):
        raise InvalidRecipient("the owner's email address contains a line break")
    try:
        return str(Address(addr_spec=value.strip()))
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise InvalidRecipient(f"the owner's email address {value!r} is not valid: {exc}") from None


def _clean(text: str) -> str:
    """User-supplied text without control characters (no header injection, no broken layout)."""
    return "".join(" " if unicodedata.category(c).startswith("C") else c for c in text).strip()


def _shorten(text: str) -> str:
    return text if len(text) <= SUBJECT_FILENAME_MAX else text[: SUBJECT_FILENAME_MAX - 1] + "…"


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "mp4mp3.localhost"


@cache
def _template(name: str) -> Template:
    return Template(resources.files("notification").joinpath("templates", name).read_text(encoding="utf-8"))


def _render(name: str, fields: dict[str, str]) -> str:
    return _template(name).substitute(fields)
