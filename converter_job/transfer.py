"""Moving the files: the MP4 out of GridFS into a seekable temp file, the MP3 back in under its id;
and a long video's parts (segments.py) in and out, with the claim that makes one pod their joiner.

Never piped: an MP4 whose index (moov) is at the end cannot be read from a pipe, and ffmpeg then
exits 0 with a header-only MP3.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import gridfs
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.database import Database

from common import storage
from common.resources import SEGMENTS_DONE
from common.storage import delete_quietly
from converter_job.errors import BadInput
from converter_job.spec import Source

COPY_BUFFER = 1024 * 1024


def download_video(bucket: gridfs.GridFSBucket, source: Source, dest: Path) -> int:
    """Copy the video to ``dest``, checking size and SHA-256 against the upload's; returns its size."""
    try:
        stream = bucket.open_download_stream(ObjectId(source.video_id))
    except (gridfs.errors.NoFile, InvalidId) as exc:
        raise BadInput("SourceMissing", "The uploaded video is no longer stored; upload it again.") from exc
    digest, size = hashlib.sha256(), 0
    with stream, dest.open("wb") as out:
        while block := stream.read(COPY_BUFFER):
            digest.update(block)
            size += len(block)
            out.write(block)
    if (source.size is not None and size != source.size) or (
        source.sha256 is not None and digest.hexdigest() != source.sha256
    ):
        message = "The stored video does not match the upload (size or checksum); upload it again."
        raise BadInput("SourceCorrupted", message)
    return size


def store_mp3(
    bucket: gridfs.GridFSBucket, file_id: ObjectId, path: Path, filename: str, metadata: dict[str, str]
) -> int:
    """Write the MP3 under ``file_id``, replacing whatever an earlier attempt left (a whole file or
    the chunks of an interrupted upload): a retry never makes a second copy."""
    delete_quietly(bucket, file_id)
    with path.open("rb") as source:
        bucket.upload_from_stream_with_id(file_id, filename, source, metadata=metadata)
    return path.stat().st_size


def part_id(run_uid: str, index: int) -> ObjectId:
    """A part's GridFS id, from its run (the Job's uid) and index: a retried pod replaces its own."""
    return ObjectId(hashlib.sha256(f"part:{run_uid}:{index}".encode()).digest()[:12])


def store_part(db: Database, run_uid: str, job: str, index: int, path: Path) -> int:
    file_id, bucket = part_id(run_uid, index), storage.segments(db)
    delete_quietly(bucket, file_id)
    metadata = {"job": job, "run": run_uid, "index": index}
    with path.open("rb") as source:
        bucket.upload_from_stream_with_id(file_id, f"{job}.part{index}.mp3", source, metadata=metadata)
    return path.stat().st_size


def claim_join(db: Database, run_uid: str, job: str, index: int, count: int) -> bool:
    """Record part ``index`` as stored; True when this pod is the one to join them. Once every part
    is recorded, the first pod to ask takes the join (``joiner``: its index), so one pod joins
    however the parts finish; a retry of that index (its pod died before the MP3 was stored) takes
    it again, a retry of any other index does not."""
    after = (
        db[SEGMENTS_DONE].find_one_and_update(
            {"_id": run_uid},
            {"$addToSet": {"done": index}, "$set": {"job": job}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        or {}
    )
    if len(set(after.get("done") or [])) < count:
        return False
    if after.get("joiner") is None:
        db[SEGMENTS_DONE].update_one({"_id": run_uid, "joiner": None}, {"$set": {"joiner": index}})
        after = db[SEGMENTS_DONE].find_one({"_id": run_uid}) or {}
    return after.get("joiner") == index


def fetch_part(db: Database, run_uid: str, index: int, dest: Path) -> Path:
    with storage.segments(db).open_download_stream(part_id(run_uid, index)) as stream, dest.open("wb") as out:
        while block := stream.read(COPY_BUFFER):
            out.write(block)
    return dest


def delete_parts(db: Database, run_uid: str, count: int) -> None:
    """The parts and their record, once joined (a failed run's are the operator's finalizer's)."""
    bucket = storage.segments(db)
    for index in range(count):
        delete_quietly(bucket, part_id(run_uid, index))
    db[SEGMENTS_DONE].delete_one({"_id": run_uid})
