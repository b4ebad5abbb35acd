"""Names of the ConversionJob resource and how jobs, files and resources are named from each other."""

from __future__ import annotations

import hashlib

from bson import ObjectId

GROUP = "mp4mp3.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ConversionJob"
PLURAL = "conversionjobs"

# GridFS buckets
VIDEOS_BUCKET = "videos"
MP3S_BUCKET = "mp3s"
# FerretDB answers getMore with up to 250 documents whatever their size; 250 x 255 KiB (pymongo's
# default chunk) would exceed the 48 MB wire message limit. 128 KiB is valid on MongoDB too.
CHUNK_SIZE = 128 * 1024

# labels and annotations
OWNER_LABEL = f"{GROUP}/owner"  # the user id (JWT sub)
JOB_LABEL = f"{GROUP}/conversionjob"  # on Jobs, pods, Roles made for a ConversionJob
FINALIZER = f"{GROUP}/cleanup"


def job_name(video_id: str) -> str:
    """The ConversionJob (and batch Job) name for an uploaded video: deterministic, DNS-safe."""
    return f"cj-{video_id}"


def video_id_of(name: str) -> str | None:
    """Inverse of ``job_name``; None when ``name`` is not one of ours."""
    if name.startswith("cj-") and len(name) == 27 and all(c in "0123456789abcdef" for c in name[3:]):
        return name[3:]
    return None


def mp3_id(job_uid: str) -> ObjectId:
    """The MP3's GridFS id, derived from the ConversionJob's uid: a retried conversion writes the
    same id, so there is never a second copy."""
    return ObjectId(hashlib.sha256(f"mp3:{job_uid}".encode()).digest()[:12])
