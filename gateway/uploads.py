"""Receiving an upload: the multipart body parsed as it streams in, the file part written to
GridFS batch by batch (memory stays flat whatever the size), form fields collected as options.

Every way an upload can be refused (too large, empty, not an MP4, bad options, malformed body)
raises :class:`UploadRejected` after removing whatever was already stored, and after reading
(and discarding) up to ``drain_limit_bytes`` more of the body so that the client, still sending,
receives the answer instead of a reset connection.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio
from fastapi import Request, status
from pymongo.database import Database
from starlette.requests import ClientDisconnect
from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException, UnexpectedPartException
from streaming_form_data.targets import BaseTarget, ValueTarget
from streaming_form_data.validators import MaxSizeValidator, ValidationError

from common.logs import kv
from common.resources import VIDEOS_BUCKET
from gateway.auth import User
from gateway.containers import HEAD_BYTES, iso_bmff_problem
from gateway.filenames import clean_upload_name
from gateway.options import (
    FIELD_BYTES,
    FIELDS,
    MAX_FIELD_BYTES,
    InvalidOptions,
    OutputOptions,
    field_bytes,
    parse_options,
)
from gateway.settings import Settings
from gateway.storage import GridFSWriter, StoredFile

log = logging.getLogger("gateway.uploads")

FILE_FIELD = "file"
FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and option fields around the file


class UploadRejected(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class ReceivedUpload:
    video: StoredFile
    filename: str
    options: OutputOptions


class _VideoTarget(BaseTarget):
    """The file part: checks the leading bytes, enforces the size cap, streams into GridFS."""

    def __init__(self, writer: GridFSWriter, max_bytes: int) -> None:
        super().__init__()
        self.writer = writer
        self.max_bytes = max_bytes
        self.received = 0
        self.started = False
        self.finished = False
        self._head = b""
        self._checked = False

    async def on_start_async(self) -> None:
        if self.started:  # the parser would append a second file part to the first
            raise UploadRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, "Send one video per upload.")
        self.started = True

    async def on_data_received_async(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise UploadRejected(
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                f"The video is larger than the limit of {_human(self.max_bytes)}.",
            )
        if not self._checked:
            self._head += chunk
            if len(self._head) < HEAD_BYTES:
                return
            self._check(self._head)
            chunk, self._head = self._head, b""
        await self.writer.write(chunk)

    async def on_finish_async(self) -> None:
        if self.received == 0:
            raise UploadRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, "The uploaded file is empty.")
        if not self._checked:
            self._check(self._head)  # shorter than HEAD_BYTES: refused with the reason
        self.finished = True

    def _check(self, head: bytes) -> None:
        problem = iso_bmff_problem(head)
        if problem:
            raise UploadRejected(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, problem)
        self._checked = True


async def receive(request: Request, db: Database, settings: Settings, user: User) -> ReceivedUpload:
    """Read the whole multipart body of ``request`` into GridFS; the video is committed only if
    everything about the upload is acceptable."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadRejected(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "Send the video as multipart/form-data with the file in a part named 'file'.",
        )
    declared = _content_length(request)
    hopeless = settings.max_upload_bytes + FORM_OVERHEAD + settings.drain_limit_bytes
    if declared is not None and declared > hopeless:  # refused without reading a byte
        raise UploadRejected(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            f"The video is larger than the limit of {_human(settings.max_upload_bytes)}.",
        )
    writer = GridFSWriter(db, VIDEOS_BUCKET, batch_bytes=settings.upload_batch_bytes)
    started = time.monotonic()
    try:
        target, fields = await _parse(request, writer, settings.max_upload_bytes)
        try:
            options = parse_options(fields)
        except InvalidOptions as exc:
            raise UploadRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        filename = clean_upload_name(target.multipart_filename)
        metadata = {
            "owner": user.id,
            "filename": filename,
            "contentType": target.multipart_content_type or "video/mp4",
        }
        video = await writer.commit(filename, metadata)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):  # a client that went away must not leave chunks behind
            await writer.abort()
        if isinstance(exc, UploadRejected):
            log.info(kv(event="upload.rejected", owner=user.id, status=exc.status_code, reason=exc.detail))
            await _drain(request, settings.drain_limit_bytes)
        elif isinstance(exc, ClientDisconnect):
            log.info(kv(event="upload.abandoned", video=writer.id, owner=user.id, received=writer.size))
        raise
    seconds = time.monotonic() - started
    log.info(
        kv(
            event="upload.stored",
            video=video.id,
            owner=user.id,
            size=video.length,
            seconds=round(seconds, 3),
            mb_per_s=round(video.length / 1e6 / max(seconds, 1e-6), 1),
        )
    )
    return ReceivedUpload(video=video, filename=filename, options=options)


async def _parse(
    request: Request, writer: GridFSWriter, max_bytes: int
) -> tuple[_VideoTarget, dict[str, str]]:
    try:
        parser = StreamingFormDataParser(headers=request.headers, strict=True)
    except ParseFailedException as exc:
        raise UploadRejected(status.HTTP_400_BAD_REQUEST, f"Unusable multipart header: {exc}.") from None
    target = _VideoTarget(writer, max_bytes)
    parser.register(FILE_FIELD, target)
    values = {name: ValueTarget(validator=MaxSizeValidator(field_bytes(name))) for name in FIELDS}
    for name, value in values.items():
        parser.register(name, value)
    try:
        async for chunk in request.stream():
            await parser.adata_received(chunk)
    except ValidationError:
        longest = ", ".join(f"{name} {size}" for name, size in sorted(FIELD_BYTES.items()))
        raise UploadRejected(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"An option field is too long: at most {MAX_FIELD_BYTES} bytes ({longest} for text tags).",
        ) from None
    except UnexpectedPartException as exc:
        raise UploadRejected(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Unknown form field {exc.part_name!r}: send the video as 'file' and options among "
            f"{', '.join(FIELDS)}.",
        ) from None
    except ParseFailedException:
        raise UploadRejected(status.HTTP_400_BAD_REQUEST, "The multipart body is malformed.") from None
    if not target.finished:
        if not target.started:
            raise UploadRejected(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "The form has no part named 'file' holding the video."
            )
        raise UploadRejected(status.HTTP_400_BAD_REQUEST, "The multipart body ended before the file did.")
    return target, {name: v.value.decode("utf-8", "replace") for name, v in values.items() if v.value}


async def _drain(request: Request, limit: int) -> None:
    """Read and discard the rest of the body, up to ``limit`` bytes (the client is still sending)."""
    drained = 0
    try:
        async for chunk in request.stream():
            drained += len(chunk)
            if drained > limit:
                return
    except (ClientDisconnect, RuntimeError):  # gone, or the stream was already consumed
        return


def _content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _human(size: int) -> str:
    """1073741824 -> '1 GiB'."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.4g} {unit}"
        value /= 1024
    return f"{value:.4g} TiB"
