"""GridFS for the gateway: uploads streamed into bucket "videos" in bounded batches, byte ranges
read back from bucket "mp3s".

pymongo's GridIn buffers up to 48 MB of chunks before it inserts them, which would make the
gateway's memory grow with the upload; this writer follows the same GridFS layout (a ``chunks``
document per 128 KiB, a ``files`` document written last) with batches of a few MiB instead, and
overlaps each insert with receiving the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import pymongo
from bson import ObjectId
from pymongo.collection import Collection
from pymongo.database import Database

from common.resources import CHUNK_SIZE, MP3S_BUCKET, VIDEOS_BUCKET

CURSOR_BATCH_BYTES = 4 * 1024 * 1024


class CorruptFile(RuntimeError):
    """A GridFS file's chunks do not add up to its length."""


@dataclass(frozen=True)
class StoredFile:
    id: Any
    length: int
    chunk_size: int
    upload_date: dt.datetime
    filename: str
    metadata: Mapping[str, Any]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> StoredFile:
        return cls(
            id=doc["_id"],
            length=int(doc["length"]),
            chunk_size=int(doc["chunkSize"]),
            upload_date=doc.get("uploadDate") or dt.datetime.now(dt.UTC),
            filename=str(doc.get("filename") or ""),
            metadata=doc.get("metadata") or {},
        )

    @property
    def etag(self) -> str:
        """Strong ETag: an id is written once (a retried conversion rewrites it, with a new date)."""
        stamp = int(self.upload_date.timestamp() * 1000)
        return f'"{self.id}-{self.length}-{stamp}"'


KEPT_COPIES = f"{VIDEOS_BUCKET}.kept"  # owner/sha256 -> the one stored copy jobs share


def ensure_indexes(db: Database) -> None:
    """The indexes GridFS drivers expect (pymongo makes them only on its own first upload)."""
    for bucket in (VIDEOS_BUCKET, MP3S_BUCKET):
        db[f"{bucket}.files"].create_index([("filename", 1), ("uploadDate", 1)])
        db[f"{bucket}.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)


def keep_copy(db: Database, file: StoredFile) -> Any:
    """The id of the owner's kept copy of ``file``'s bytes: ``file`` itself if it is the first
    to claim the owner's and sha256's entry in ``videos.kept`` (its ``_id``, unique, decides: so
    uploads of the same bytes ending at once agree on one copy), else the copy the entry names.
    An entry whose copy was deleted since is taken over, compare-and-set, by this one."""
    kept, files = db[KEPT_COPIES], db[f"{VIDEOS_BUCKET}.files"]
    key = f"{file.metadata['owner']}/{file.metadata['sha256']}"
    while True:
        try:
            kept.insert_one({"_id": key, "video": file.id})
            return file.id
        except pymongo.errors.DuplicateKeyError:
            pass
        entry = kept.find_one({"_id": key})
        if entry is None:
            continue  # removed between the two: claim it again
        if files.find_one({"_id": entry["video"]}, {"_id": 1}) is not None:
            return entry["video"]
        stale = {"_id": key, "video": entry["video"]}
        if kept.update_one(stale, {"$set": {"video": file.id}}).modified_count:
            return file.id
        # another upload took the stale entry over first: read it again


COPIES_PER_BATCH = 4  # a batch in flight is held about this many times over (buffer, slices, BSON)


class BatchSlots:
    """How many upload batches one gateway process holds at once, all uploads together, so that
    its memory stays flat however many uploads arrive: a writer takes a slot before it buffers a
    batch and gives it back once that batch is stored. An upload that finds none free waits
    without reading, and TCP slows its client down; the others go on at full speed."""

    def __init__(self, memory_bytes: int, batch_bytes: int) -> None:
        self.slots = max(2, memory_bytes // (COPIES_PER_BATCH * batch_bytes))
        self._free = asyncio.Semaphore(self.slots)

    async def take(self) -> None:
        await self._free.acquire()

    def give_back(self) -> None:
        self._free.release()


class GridFSWriter:
    """One file streamed into a GridFS bucket: ``await write(data)`` as bytes arrive, then
    ``commit`` (the file appears) or ``abort`` (nothing is left). Size and sha256 are computed on
    the way. At most two batches are in memory: the one being inserted and the one filling up;
    with ``slots``, each of them holds one of the process's batch slots."""

    def __init__(
        self,
        db: Database,
        bucket: str = VIDEOS_BUCKET,
        *,
        file_id: ObjectId | None = None,
        batch_bytes: int = 2 * 1024 * 1024,
        chunk_size: int = CHUNK_SIZE,
        slots: BatchSlots | None = None,
    ) -> None:
        self.id = file_id or ObjectId()
        self._slots = slots
        self._holding = False  # a slot for the batch filling up
        self._db = db
        self._bucket = bucket
        self._files: Collection = db[f"{bucket}.files"]
        self._chunks: Collection = db[f"{bucket}.chunks"]
        self._chunk_size = chunk_size
        self._batch = max(chunk_size, batch_bytes // chunk_size * chunk_size)
        self._buffer = bytearray()
        self._next_n = 0
        self._sha = hashlib.sha256()
        self._size = 0
        self._pending: asyncio.Task[None] | None = None
        self._done = False

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        if self._slots is not None and not self._holding:
            await self._slots.take()  # room for one more batch in this process, or wait for it
            self._holding = True
        self._size += len(data)
        self._buffer += data
        if len(self._buffer) >= self._batch:
            batch = memoryview(self._buffer)[: self._batch].tobytes()
            del self._buffer[: self._batch]
            await self._send(batch)

    async def commit(self, filename: str, metadata: Mapping[str, Any]) -> StoredFile:
        """Insert what is left and the ``files`` document; returns the stored file."""
        await self._send(bytes(self._buffer))
        self._buffer = bytearray()
        await self._wait()
        doc = {
            "_id": self.id,
            "length": self._size,
            "chunkSize": self._chunk_size,
            # BSON dates have millisecond precision; round here so the ETag is stable
            "uploadDate": dt.datetime.now(dt.UTC).replace(microsecond=0),
            "filename": filename,
            "metadata": {**metadata, "size": self._size, "sha256": self.sha256},
        }
        await anyio.to_thread.run_sync(self._files.insert_one, doc)
        self._done = True
        return StoredFile.from_doc(doc)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    async def abort(self) -> None:
        """Remove every chunk written so far (and the file, if committed). Idempotent."""
        with contextlib.suppress(Exception):  # a failed insert may be why we abort: clean up anyway
            await self._wait()
        self._buffer = bytearray()
        self._give_back()
        await anyio.to_thread.run_sync(delete_file, self._db, self._bucket, self.id)
        self._done = True

    async def _send(self, data: bytes) -> None:
        await self._wait()
        if not data:
            self._give_back()
            return
        first = self._next_n
        self._next_n += -(-len(data) // self._chunk_size)
        slot, self._holding = self._holding, False  # the insert gives the batch's slot back
        self._pending = asyncio.ensure_future(self._store(data, first, slot))

    async def _store(self, data: bytes, first: int, slot: bool) -> None:
        try:
            await anyio.to_thread.run_sync(self._insert, data, first)
        finally:
            if slot and self._slots is not None:
                self._slots.give_back()

    def _give_back(self) -> None:
        if self._holding and self._slots is not None:
            self._slots.give_back()
        self._holding = False

    async def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    def _insert(self, data: bytes, first: int) -> None:
        """In a worker thread: hash (hashlib releases the GIL) and insert the batch's chunks."""
        self._sha.update(data)
        size = self._chunk_size
        docs = [
            {"files_id": self.id, "n": first + i, "data": data[off : off + size]}
            for i, off in enumerate(range(0, len(data), size))
        ]
        self._chunks.insert_many(docs, ordered=True)


def delete_file(db: Database, bucket: str, file_id: Any) -> bool:
    """Delete a GridFS file and its chunks (also half-written ones); True if anything was there."""
    files = db[f"{bucket}.files"].delete_one({"_id": file_id}).deleted_count
    chunks = db[f"{bucket}.chunks"].delete_many({"files_id": file_id}).deleted_count
    return bool(files or chunks)


def sweep_orphan_chunks(db: Database, bucket: str, older_than: dt.datetime) -> int:
    """Delete the chunks of files begun before ``older_than`` that never got their ``files``
    document: uploads whose gateway was killed mid-way (a living gateway removes its own refused
    or broken uploads). A file's id is the ObjectId its upload began with, so its age is known
    without reading its chunks. Returns how many files' chunks went."""
    files, chunks = db[f"{bucket}.files"], db[f"{bucket}.chunks"]
    begun = chunks.distinct("files_id", {"files_id": {"$lt": ObjectId.from_datetime(older_than)}})
    removed = 0
    for file_id in begun:
        if files.find_one({"_id": file_id}, {"_id": 1}) is None:
            removed += bool(chunks.delete_many({"files_id": file_id}).deleted_count)
    return removed


def find_file(db: Database, bucket: str, query: Mapping[str, Any]) -> StoredFile | None:
    doc = db[f"{bucket}.files"].find_one(dict(query), sort=[("uploadDate", pymongo.DESCENDING)])
    return StoredFile.from_doc(doc) if doc else None


async def read_range(
    db: Database, bucket: str, file: StoredFile, start: int, end: int, read_bytes: int
) -> AsyncIterator[bytes]:
    """Yield bytes ``start..end`` (inclusive) of ``file``, about ``read_bytes`` at a time, fetching
    the next piece from the server while the current one is being sent."""
    if file.length == 0 or end < start:
        return
    cs = file.chunk_size
    first_n, last_n = start // cs, end // cs
    per_read = max(1, read_bytes // cs)
    cursor = (
        db[f"{bucket}.chunks"]
        .find({"files_id": file.id, "n": {"$gte": first_n, "$lte": last_n}}, {"_id": 0, "n": 1, "data": 1})
        .sort("n", pymongo.ASCENDING)
        # bounded batches (the server's default, 250 chunks, would be 32 MiB in memory at once),
        # but not tiny ones: every getMore is a round trip
        .batch_size(max(per_read, CURSOR_BATCH_BYTES // cs))
    )
    reader = _ChunkReader(cursor, file, first_n, last_n)
    offset = start - first_n * cs  # bytes to skip in the first chunk
    remaining = end - start + 1
    pending: asyncio.Future[bytes] | None = asyncio.ensure_future(
        anyio.to_thread.run_sync(reader.read, per_read)
    )
    try:
        while pending is not None:
            data = await pending
            pending = None
            if not data:
                raise CorruptFile(f"file {file.id} ends before byte {end}")
            piece = data[offset : offset + remaining]
            offset = 0
            remaining -= len(piece)
            if remaining > 0:  # fetch the next piece while this one is sent
                pending = asyncio.ensure_future(anyio.to_thread.run_sync(reader.read, per_read))
            yield piece
    finally:
        if pending is not None:  # the client went away: let the read in flight end first
            with contextlib.suppress(Exception):
                await pending
        await anyio.to_thread.run_sync(cursor.close)


class _ChunkReader:
    """Reads consecutive chunks from a cursor, checking they are the ones expected."""

    def __init__(self, cursor: pymongo.cursor.Cursor, file: StoredFile, first_n: int, last_n: int) -> None:
        self._cursor = cursor
        self._file = file
        self._n = first_n
        self._last = last_n

    def read(self, count: int) -> bytes:
        parts: list[bytes] = []
        while count > 0 and self._n <= self._last:
            doc = next(self._cursor, None)
            if doc is None or doc["n"] != self._n:
                raise CorruptFile(f"file {self._file.id}: chunk {self._n} is missing")
            data = bytes(doc["data"])
            expected = self._chunk_len(self._n)
            if len(data) != expected:
                raise CorruptFile(f"file {self._file.id}: chunk {self._n} has {len(data)} B, not {expected}")
            parts.append(data)
            self._n += 1
            count -= 1
        return b"".join(parts)

    def _chunk_len(self, n: int) -> int:
        cs = self._file.chunk_size
        return min(cs, self._file.length - n * cs)
