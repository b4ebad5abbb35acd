"""GridFS access shared by the gateway, the converter and the operator."""

from __future__ import annotations

import gridfs
import pymongo
import pymongo.errors
from pymongo.database import Database

from common.resources import (
    CHUNK_SIZE,
    JOBS_COLLECTION,
    MP3S_BUCKET,
    SEGMENTS_BUCKET,
    SEGMENTS_DONE,
    VIDEOS_BUCKET,
)


def database(uri: str, **client_options: object) -> Database:
    """The database named in ``uri`` (mongodb://host:port/NAME)."""
    client: pymongo.MongoClient = pymongo.MongoClient(uri, **client_options)  # type: ignore[arg-type]
    return client.get_default_database()


# codes of a command the server could not serve for its own state, not for the command: retrying
# later helps (MongoDB's InternalError is also what FerretDB answers while its PostgreSQL is down)
UNAVAILABLE_CODES = frozenset(
    {
        1,  # InternalError
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        189,  # PrimarySteppedDown
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)


def server_unavailable(exc: pymongo.errors.PyMongoError) -> bool:
    """Did the database fail for its own state (down, its storage down, stepping down), so that the
    same request would succeed later, rather than refuse what we asked?"""
    if isinstance(exc, pymongo.errors.ConnectionFailure):
        return True
    return isinstance(exc, pymongo.errors.OperationFailure) and exc.code in UNAVAILABLE_CODES


def videos(db: Database) -> gridfs.GridFSBucket:
    return gridfs.GridFSBucket(db, bucket_name=VIDEOS_BUCKET, chunk_size_bytes=CHUNK_SIZE)


def mp3s(db: Database) -> gridfs.GridFSBucket:
    return gridfs.GridFSBucket(db, bucket_name=MP3S_BUCKET, chunk_size_bytes=CHUNK_SIZE)


def segments(db: Database) -> gridfs.GridFSBucket:
    return gridfs.GridFSBucket(db, bucket_name=SEGMENTS_BUCKET, chunk_size_bytes=CHUNK_SIZE)


def delete_segments(db: Database, job: str) -> int:
    """Delete the segment files a ConversionJob's pods stored (all its runs); how many there were."""
    bucket, found = segments(db), 0
    for file in db[f"{SEGMENTS_BUCKET}.files"].find({"metadata.job": job}, {"_id": 1}):
        found += delete_quietly(bucket, file["_id"])
    db[SEGMENTS_DONE].delete_many({"job": job})
    return found


def delete_quietly(bucket: gridfs.GridFSBucket, file_id: object) -> bool:
    """Delete a file if it exists; True if it did (idempotent cleanup)."""
    try:
        bucket.delete(file_id)
        return True
    except gridfs.errors.NoFile:
        return False


def video_shared(db: Database, video_id: str, job: str) -> bool:
    """Does a job other than ``job`` use this stored video? The gateway stores an owner's identical
    bytes once and names the copy in each job's record, so a video goes only with its last job."""
    others = {"videoId": video_id, "_id": {"$ne": job}}
    return db[JOBS_COLLECTION].find_one(others, {"_id": 1}) is not None
