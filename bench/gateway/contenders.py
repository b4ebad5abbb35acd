"""The contenders: raw pymongo GridFS and the gateway's HTTP routes, uploading and downloading the
same bytes. The bench plays the operator and the converter where a job needs them."""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import suppress
from pathlib import Path

import gridfs
import httpx
from bson import ObjectId
from pymongo.database import Database

from bench.gateway.results import MiB
from bench.gateway.world import World
from common import storage
from common.resources import CHUNK_SIZE, MP3S_BUCKET, VIDEOS_BUCKET, mp3_id

FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"  # so the gateway takes it for an MP4


def make_input(folder: Path, size: int) -> Path:
    """``size`` bytes of incompressible data starting with an ftyp box."""
    path = folder / f"input-{size}.mp4"
    block = os.urandom(MiB)
    with path.open("wb") as out:
        written = 0
        while written < size:
            piece = (FTYP + block[len(FTYP) :]) if written == 0 else block
            piece = piece[: size - written]
            out.write(piece)
            written += len(piece)
    return path


def raw_upload(db: Database, source: Path) -> float:
    bucket = gridfs.GridFSBucket(db, bucket_name=VIDEOS_BUCKET, chunk_size_bytes=CHUNK_SIZE)
    started = time.perf_counter()
    with source.open("rb") as fh:
        file_id = bucket.upload_from_stream(source.name, fh)
    seconds = time.perf_counter() - started
    bucket.delete(file_id)
    return seconds


def gateway_upload(world: World, url: str, token: str, source: Path) -> float:
    started = time.perf_counter()
    with source.open("rb") as fh:
        resp = httpx.post(
            f"{url}/jobs?fresh=true",  # the streaming path, never an earlier job's MP3 reused
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (source.name, fh, "video/mp4")},
            timeout=1800,
        )
    seconds = time.perf_counter() - started
    if resp.status_code != 202:
        raise RuntimeError(f"upload answered {resp.status_code}: {resp.text}")
    job_id = resp.json()["id"]
    remove_job(world, job_id)
    return seconds


def remove_job(world: World, job_id: str) -> None:
    """What the operator's finalizer would do: the files, then the resource. The video goes only
    if no other job uses it (an owner's identical bytes are stored once)."""
    record = world.db["jobs"].find_one({"_id": job_id}, {"videoId": 1}) or {}
    video = str(record.get("videoId", job_id.removeprefix("cj-")))
    if not storage.video_shared(world.db, video, job_id):
        bucket = gridfs.GridFSBucket(world.db, bucket_name=VIDEOS_BUCKET)
        with suppress(gridfs.errors.NoFile):
            bucket.delete(ObjectId(str(video)))
    world.db["jobs"].delete_one({"_id": job_id})
    path = f"{world.cj_path}/{job_id}"
    world.admin.patch(path, {"metadata": {"finalizers": None}})
    world.admin.delete(path)


def prepare_download(world: World, url: str, token: str, source: Path) -> str:
    """A job whose "MP3" is ``source``'s bytes, marked Succeeded as the converter would."""
    tiny = FTYP + b"\x00" * 64
    resp = httpx.post(
        f"{url}/jobs?fresh=true",  # a ConversionJob of its own, even for bytes uploaded before
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("d.mp4", tiny)},
        timeout=60,
    )
    resp.raise_for_status()
    job_id = str(resp.json()["id"])
    resource = world.admin.get(f"{world.cj_path}/{job_id}")
    owner = resource["spec"]["owner"]["userId"]
    file_id = mp3_id(resource["metadata"]["uid"])
    bucket = gridfs.GridFSBucket(world.db, bucket_name=MP3S_BUCKET, chunk_size_bytes=CHUNK_SIZE)
    with source.open("rb") as fh:
        bucket.upload_from_stream_with_id(
            file_id, "d.mp3", fh, metadata={"owner": owner, "job": job_id, "filename": "d.mp3"}
        )
    status = {"phase": "Succeeded", "progress": 100, "mp3Id": str(file_id), "mp3Size": source.stat().st_size}
    world.admin.patch(f"{world.cj_path}/{job_id}/status", {"status": status})
    return job_id


def raw_download(db: Database, job_id: str) -> tuple[float, str]:
    bucket = gridfs.GridFSBucket(db, bucket_name=MP3S_BUCKET)
    digest = hashlib.sha256()
    started = time.perf_counter()
    file_id = db[f"{MP3S_BUCKET}.files"].find_one({"metadata.job": job_id})["_id"]  # type: ignore[index]
    with bucket.open_download_stream(file_id) as stream:
        while block := stream.read(MiB):
            digest.update(block)
    return time.perf_counter() - started, digest.hexdigest()


def gateway_download(url: str, token: str, job_id: str) -> tuple[float, str]:
    digest = hashlib.sha256()
    started = time.perf_counter()
    with httpx.stream(
        "GET", f"{url}/jobs/{job_id}/mp3", headers={"Authorization": f"Bearer {token}"}, timeout=1800
    ) as resp:
        if resp.status_code != 200:
            resp.read()
            raise RuntimeError(f"download answered {resp.status_code}: {resp.text}")
        for block in resp.iter_bytes(MiB):
            digest.update(block)
    return time.perf_counter() - started, digest.hexdigest()
