"""Webhooks, the contract the gateway (registers them) and the notification service (delivers to
them) share: where they are stored, which URLs may receive deliveries, and how a delivery is signed.

Signing: ``X-Mp4mp3-Signature: sha256=<hex>`` is HMAC-SHA256 with the owner's signing secret over
``<X-Mp4mp3-Timestamp>.<raw body>``; a receiver recomputes it, compares in constant time and refuses
a timestamp older than a few minutes (a captured delivery cannot be replayed later). The event id
(``X-Mp4mp3-Event-Id``, stable across retries) lets it drop a delivery it already processed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import urlsplit

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

# --- MongoDB collections (the gateway's database) ---
WEBHOOKS_COLLECTION: Final = "webhooks"  # one document per registered URL: owner, url, events, lastDelivery
SECRETS_COLLECTION: Final = "webhook_secrets"  # one signing secret per owner (_id = user id)
DELIVERIES_COLLECTION: Final = "webhook_deliveries"  # one per (event, url): status, attempts, last error

# --- delivery statuses, as the API shows them ---
DELIVERED: Final = "delivered"
FAILING: Final = "failing"  # the last attempt failed; another is scheduled
PARKED: Final = "parked"  # gave up after the last attempt
REFUSED: Final = "refused"  # the URL resolves to an address deliveries may not go to

# --- the HTTP headers of a delivery ---
SIGNATURE_HEADER: Final = "X-Mp4mp3-Signature"
TIMESTAMP_HEADER: Final = "X-Mp4mp3-Timestamp"
EVENT_ID_HEADER: Final = "X-Mp4mp3-Event-Id"
EVENT_TYPE_HEADER: Final = "X-Mp4mp3-Event"
SIGNATURE_SCHEME: Final = "sha256="
REPLAY_WINDOW_SECONDS: Final = 300  # what receivers are told to accept; documented in docs/api.md

MAX_URL_LENGTH: Final = 2048
EVENT_TYPES: Final = ("conversion.succeeded", "conversion.failed")


class UnsafeUrl(ValueError):
    """A webhook URL deliveries may not go to; the message is a sentence for the user."""


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def ensure_secret(collection: Collection, owner: str) -> str:
    """The owner's signing secret in ``collection`` (``SECRETS_COLLECTION``), made on first use by
    whichever service needs it first; concurrent first uses settle on one stored secret."""
    found = collection.find_one({"_id": owner})
    if found:
        return str(found["secret"])
    with contextlib.suppress(DuplicateKeyError):
        collection.insert_one({"_id": owner, "secret": new_secret(), "created": dt.datetime.now(dt.UTC)})
    stored = collection.find_one({"_id": owner}) or {}
    return str(stored["secret"])


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-Mp4mp3-Signature`` for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_SCHEME + mac.hexdigest()


def verify(
    secret: str,
    signature: str,
    timestamp: str,
    body: bytes,
    now: float | None = None,
    window: float = REPLAY_WINDOW_SECONDS,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > window:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def check_syntax(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host and no credentials; ``UnsafeUrl`` otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("only http:// and https:// URLs can receive webhooks")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("the URL must not carry a user name or password (deliveries are signed instead)")
    try:
        parts.port  # noqa: B018  # raises on a port out of range
    except ValueError:
        raise UnsafeUrl("the URL's port is not a number between 0 and 65535") from None
    return url


def check_address(url: str, allowed: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()) -> None:
    """Refuse (``UnsafeUrl``) a URL whose host resolves to a private, loopback, link-local or other
    non-public address, unless that address is inside one of ``allowed``. Blocking (DNS)."""
    parts = urlsplit(check_syntax(url))
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"the host {host!r} does not resolve") from None
    for address in _addresses(info[4][0] for info in infos):
        if (not address.is_global or address.is_multicast) and not any(address in net for net in allowed):
            raise UnsafeUrl(
                f"the host {host!r} resolves to {address}, a private or reserved address that webhooks "
                "may not be sent to"
            )


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``"127.0.0.0/8, ::1/128"`` -> networks (the setting that lets deliveries reach private ranges)."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def _addresses(raw: Iterable[str | int]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out = []
    for value in raw:
        address = ipaddress.ip_address(str(value).split("%", 1)[0])  # drop an IPv6 zone id
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        out.append(address)
    return out
