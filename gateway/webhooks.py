"""A user's webhooks as the gateway keeps them in MongoDB (collections named in ``common.webhooks``):
the registered URLs, the owner's signing secret, and the deliveries the notification service recorded.

Blocking pymongo calls; the routes run them in a worker thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from common import webhooks

RECENT_DELIVERIES = 50


class TooMany(Exception):
    """The user has registered as many webhooks as allowed."""


class AlreadyRegistered(Exception):
    """The user registered this URL before."""


class WebhookStore:
    def __init__(self, db: Database) -> None:
        self.hooks: Collection = db[webhooks.WEBHOOKS_COLLECTION]
        self.secrets: Collection = db[webhooks.SECRETS_COLLECTION]
        self.deliveries: Collection = db[webhooks.DELIVERIES_COLLECTION]

    def ensure_indexes(self) -> None:
        self.hooks.create_index([("owner", pymongo.ASCENDING), ("url", pymongo.ASCENDING)], unique=True)
        self.deliveries.create_index([("owner", pymongo.ASCENDING), ("job", pymongo.ASCENDING)])

    def register(self, owner: str, url: str, events: Sequence[str], limit: int) -> dict[str, Any]:
        self.ensure_indexes()
        if self.hooks.count_documents({"owner": owner}) >= limit:
            raise TooMany(f"You have {limit} webhooks already, the most allowed: delete one first.")
        hook = {
            "_id": ObjectId(),
            "owner": owner,
            "url": url,
            "events": list(events),
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0),
            "lastDelivery": None,
        }
        try:
            self.hooks.insert_one(hook)
        except DuplicateKeyError:
            raise AlreadyRegistered(f"You registered {url} already.") from None
        self.secret(owner)  # the signing secret exists from the first webhook on
        return hook

    def owned(self, owner: str) -> list[dict[str, Any]]:
        return list(self.hooks.find({"owner": owner}).sort([("created", 1), ("_id", 1)]))

    def delete(self, owner: str, hook_id: str) -> bool:
        try:
            oid = ObjectId(hook_id)
        except InvalidId:
            return False
        return self.hooks.delete_one({"_id": oid, "owner": owner}).deleted_count == 1

    def secret(self, owner: str) -> str:
        """The owner's signing secret, made on first use (the notification service does the same)."""
        return webhooks.ensure_secret(self.secrets, owner)

    def rotate(self, owner: str) -> str:
        secret = webhooks.new_secret()
        self.secrets.update_one(
            {"_id": owner}, {"$set": {"secret": secret, "created": dt.datetime.now(dt.UTC)}}, upsert=True
        )
        return secret

    def recent_deliveries(self, owner: str, job: str | None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"owner": owner}
        if job:
            query["job"] = job
        return list(self.deliveries.find(query).sort([("updated", -1)]).limit(RECENT_DELIVERIES))
