"""Which outcome events already got their email: one record per event id, unique-indexed in MongoDB.

Check before sending, record after the SMTP server accepted: a crash between the two can send an
email twice, never lose one. Two consumers racing on the very same event can also both send (no
transactions on FerretDB to close that window); the unique index keeps a single record.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pymongo
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

INDEX_NAME = "event_id_unique"


class SentLog:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._indexed = False

    @classmethod
    def connect(cls, uri: str, collection: str, timeout: float) -> SentLog:
        ms = int(timeout * 1000)
        client: pymongo.MongoClient = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
        )
        return cls(client.get_default_database()[collection])

    def was_sent(self, event_id: str) -> bool:
        self._ensure_index()
        return self.collection.find_one({"event_id": event_id}, {"_id": 1}) is not None

    def record(self, event_id: str, job: str) -> None:
        """Remember that ``event_id``'s email was accepted (idempotent)."""
        self._ensure_index()
        record = {"event_id": event_id, "job": job, "sent_at": dt.datetime.now(dt.UTC)}
        with contextlib.suppress(DuplicateKeyError):  # a redelivery recorded it first: one is enough
            self.collection.insert_one(record)

    def _ensure_index(self) -> None:
        # lazily, so the consumer starts (and waits on the broker) even while MongoDB is down
        if not self._indexed:
            self.collection.create_index("event_id", unique=True, name=INDEX_NAME)
            self._indexed = True
