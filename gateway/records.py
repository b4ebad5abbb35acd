"""The small record the gateway keeps per job in MongoDB: who owns it, what was uploaded, when.

It is written before the ConversionJob is created, so ownership is known even while the resource
does not exist yet (API server down: the operator creates it from the event).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database

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

    def delete(self, job_id: str) -> None:
        self._c.delete_one({"_id": job_id})


def new_record(user: User, upload: ReceivedUpload) -> dict[str, Any]:
    return {
        "_id": job_name(str(upload.video.id)),
        "owner": user.id,
        "email": user.email,
        "videoId": str(upload.video.id),
        "filename": upload.filename,
        "size": upload.video.length,
        "sha256": upload.video.metadata["sha256"],
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0),
        "options": upload.options.public(),
    }
