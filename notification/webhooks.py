"""What one outcome event becomes for webhooks: a signed POST to each of the owner's registered URLs
that wants this outcome and to the job's own callback URL, each delivered once, retried through the
consumer loop's retry queue while any fails, parked once every failing one had its last attempt.

Runs on the webhook consumer's worker thread (``common.consumer``); each (event, URL) pair has a record
in MongoDB, so a retry only calls the URLs that have not answered 2xx yet, and the API shows how it went.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pymongo
from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from common import webhooks
from common.events import ConversionSucceeded
from common.logs import kv
from common.retries import Ack, Park, Retry, Verdict
from notification import metrics
from notification.mail import Outcome

log = logging.getLogger(__name__)

USER_AGENT = "mp4mp3-webhooks/1"
ERROR_CHARS = 300  # of a receiver's error, kept in the record


@dataclass(frozen=True)
class Target:
    url: str
    webhook_id: str | None  # None: the job's own callbackUrl


@dataclass(frozen=True)
class Attempt:
    """How one POST went."""

    ok: bool
    http_status: int | None
    error: str | None


Post = Callable[[str, bytes, dict[str, str]], Attempt]


def payload(event: Outcome, public_url: str) -> bytes:
    """The JSON body receivers get: what the API's job view says, never the owner's email. Pure."""
    job_url = f"{public_url.rstrip('/')}/jobs/{quote(event.job.name, safe='')}"
    body: dict[str, Any] = {
        "id": event.event_id,
        "type": event.type,
        "occurredAt": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "job": {"id": event.job.name, "url": job_url, "filename": event.source_filename},
    }
    if isinstance(event, ConversionSucceeded):
        body["job"] |= {"phase": "Succeeded", "download": f"{job_url}/mp3", "mp3Size": event.mp3_size}
        body["job"]["audioSeconds"] = event.audio_seconds
    else:
        body["job"] |= {"phase": "Failed", "reason": event.reason, "message": event.message}
    return json.dumps(body, separators=(",", ":")).encode()


def signed_headers(secret: str, event: Outcome, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        webhooks.EVENT_TYPE_HEADER: event.type,
        webhooks.EVENT_ID_HEADER: event.event_id,
        webhooks.TIMESTAMP_HEADER: str(timestamp),
        webhooks.SIGNATURE_HEADER: webhooks.sign(secret, timestamp, body),
    }


def http_post(timeout: float) -> Post:
    """POST with redirects not followed (a redirect could lead to an address we refuse)."""

    def post(url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        try:
            answer = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS])
        if 200 <= answer.status_code < 300:
            return Attempt(True, answer.status_code, None)
        return Attempt(False, answer.status_code, f"answered {answer.status_code}")

    return post


class WebhookStore:
    """The collections of ``common.webhooks`` as the notification service reads and writes them."""

    def __init__(self, db: pymongo.database.Database) -> None:
        self.hooks: Collection = db[webhooks.WEBHOOKS_COLLECTION]
        self.secrets: Collection = db[webhooks.SECRETS_COLLECTION]
        self.deliveries: Collection = db[webhooks.DELIVERIES_COLLECTION]

    @classmethod
    def connect(cls, uri: str, timeout: float) -> WebhookStore:
        ms = int(timeout * 1000)
        client: pymongo.MongoClient = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
        )
        return cls(client.get_default_database())

    def targets(self, event: Outcome) -> list[Target]:
        found = self.hooks.find({"owner": event.owner.user_id, "events": event.type}).sort("_id", 1)
        targets = [Target(h["url"], str(h["_id"])) for h in found]
        if event.callback_url and event.callback_url not in {t.url for t in targets}:
            targets.append(Target(event.callback_url, None))
        return targets

    def record(self, event: Outcome, target: Target) -> dict[str, Any] | None:
        return self.deliveries.find_one({"_id": delivery_id(event.event_id, target.url)})

    def save(self, event: Outcome, target: Target, fields: dict[str, Any]) -> None:
        record = {
            "url": target.url,
            "job": event.job.name,
            "event": event.type,
            "eventId": event.event_id,
            "updated": dt.datetime.now(dt.UTC),
            **fields,
        }
        self.deliveries.update_one(
            {"_id": delivery_id(event.event_id, target.url)},
            {"$set": {**record, "owner": event.owner.user_id, "webhookId": target.webhook_id}},
            upsert=True,
        )
        if target.webhook_id is not None:
            self.hooks.update_one({"_id": ObjectId(target.webhook_id)}, {"$set": {"lastDelivery": record}})

    def secret(self, owner: str) -> str:
        return webhooks.ensure_secret(self.secrets, owner)


@dataclass(frozen=True)
class WebhookDelivery:
    store: WebhookStore
    post: Post
    public_url: str
    max_attempts: int
    allowed: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()

    def handle(self, event: Outcome) -> Verdict:
        try:
            return self._deliver(event)
        except PyMongoError as exc:
            return Retry(f"webhook store unavailable: {exc}")

    def _deliver(self, event: Outcome) -> Verdict:
        pending = [t for t in self.store.targets(event) if not _settled(self.store.record(event, t))]
        if not pending:
            return Ack("webhook.none_pending")
        body = payload(event, self.public_url)
        secret = self.store.secret(event.owner.user_id)
        failing, parked = [], []
        for target in pending:
            status = self._one(event, target, body, secret)
            if status == webhooks.FAILING:
                failing.append(target.url)
            elif status == webhooks.PARKED:
                parked.append(target.url)
        if failing:
            return Retry(f"{len(failing)} webhook(s) failed: {', '.join(failing)}")
        if parked:
            return Park(f"gave up on webhook(s) after {self.max_attempts} attempts: {', '.join(parked)}")
        return Ack("webhook.delivered")

    def _one(self, event: Outcome, target: Target, body: bytes, secret: str) -> str:
        """Try one URL; record and return its status."""
        attempts = int((self.store.record(event, target) or {}).get("attempts", 0)) + 1
        about = {"job": event.job.name, "event_id": event.event_id, "url": target.url, "attempt": attempts}
        try:
            webhooks.check_address(target.url, self.allowed)
        except webhooks.UnsafeUrl as exc:
            self.store.save(event, target, _fields(webhooks.REFUSED, attempts - 1, None, str(exc)))
            metrics.WEBHOOK_DELIVERIES.labels(outcome=webhooks.REFUSED).inc()
            log.warning(kv(event="webhook.refused", **about, reason=exc))
            return webhooks.REFUSED
        started = time.monotonic()
        attempt = self.post(target.url, body, signed_headers(secret, event, body))
        metrics.WEBHOOK_SECONDS.observe(time.monotonic() - started)
        if attempt.ok:
            status = webhooks.DELIVERED
        else:
            status = webhooks.PARKED if attempts >= self.max_attempts else webhooks.FAILING
        self.store.save(event, target, _fields(status, attempts, attempt.http_status, attempt.error))
        metrics.WEBHOOK_DELIVERIES.labels(outcome=status).inc()
        log_at = log.info if attempt.ok else log.warning
        log_at(kv(event=f"webhook.{status}", **about, http_status=attempt.http_status, error=attempt.error))
        return status


def delivery_id(event_id: str, url: str) -> str:
    return f"{event_id}:{hashlib.sha256(url.encode()).hexdigest()[:24]}"


def _settled(record: dict[str, Any] | None) -> bool:
    return record is not None and record.get("status") in (
        webhooks.DELIVERED,
        webhooks.PARKED,
        webhooks.REFUSED,
    )


def _fields(status: str, attempts: int, http_status: int | None, error: str | None) -> dict[str, Any]:
    return {"status": status, "attempts": attempts, "httpStatus": http_status, "error": error}
