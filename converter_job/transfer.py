"""Moving the files: the MP4 out of GridFS into a seekable temp file, the MP3 back in under its id.

Never piped: an MP4 whose index (moov) is at the end cannot be read from a pipe, and ffmpeg then
exits 0 with a header-only MP3.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import gridfs
from bson import ObjectId
from bson.errors import InvalidId

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
