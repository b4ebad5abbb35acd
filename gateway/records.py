"""The small record the gateway keeps per job in MongoDB: who owns it, what was uploaded, when.

It is written before the ConversionJob is created, so ownership is known even while the resource
does not exist yet (API server down: the operator creates it from the event).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database

from common import storage
from common.resources import JOBS_COLLECTION, job_name, video_id_of
from gateway.auth import User
from gateway.uploads import ReceivedUpload


class JobRecords:
    def __init__(self, db: Database) -> None:
        self._c: Collection = db[JOBS_COLLECTION]

    def ensure_indexes(self) -> None:
        self._c.create_index([("owner", pymongo.ASCENDING), ("created", pymongo.DESCENDING)])

    def insert(self, record: Mapping[str, Any]) -> None:
        self._c.insert_one(dict(record))

    def owned(self, job_id: str, owner: str) -> dict[str, Any] | None:
        if video_id_of(job_id) is None:
            return None
        return self._c.find_one({"_id": job_id, "owner": owner})

    def page(self, owner: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        cursor = self._c.find({"owner": owner}).sort([("created", -1), ("_id", -1)]).skip(offset).limit(limit)
        return list(cursor), self._c.count_documents({"owner": owner})

    def reusable(self, owner: str, key: str) -> list[dict[str, Any]]:
        """The owner's converted (not reused) jobs of the same bytes and output options, newest first."""
        query = {"owner": owner, "dedupeKey": key, "reused": {"$exists": False}}
        return list(self._c.find(query).sort([("created", -1)]).limit(5))

    def video_shared(self, video_id: str, job_id: str) -> bool:
        return storage.video_shared(self._c.database, video_id, job_id)

    def delete(self, job_id: str) -> None:
        self._c.delete_one({"_id": job_id})


def dedupe_key(sha256: str, options: Mapping[str, Any]) -> str:
    """Same bytes, same output: the same MP3 (neither the email choice nor the priority changes it)."""
    output = {k: v for k, v in options.items() if k not in ("notifyEmail", "priority")}
    return f"{sha256}:{json.dumps(output, sort_keys=True)}"


def new_record(user: User, upload: ReceivedUpload, video_id: str | None = None) -> dict[str, Any]:
    """The record of an upload; ``video_id``: the stored copy of the same bytes it reuses."""
    sha256, options = upload.video.metadata["sha256"], upload.options.public()
    return {
        "_id": job_name(str(upload.video.id)),
        "owner": user.id,
        "email": user.email,
        "videoId": video_id or str(upload.video.id),
        "filename": upload.filename,
        "size": upload.video.length,
        "sha256": sha256,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0),
        "options": options,
        "dedupeKey": dedupe_key(sha256, options),
    }
