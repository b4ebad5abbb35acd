"""Receiving an upload: the multipart body parsed as it streams in, the file part written to
GridFS batch by batch (memory stays flat whatever the size), form fields collected as options.

Every way an upload can be refused (too large, empty, not an MP4, bad options, malformed body,
stalled) raises :class:`UploadRejected` after removing whatever was already stored. A body that is
too large is answered at once (a declared Content-Length over the cap before one byte is read, a
chunked body the moment it passes the cap) and its connection closed: :class:`ClosingRefusal`
lingers at most ``reject_linger_seconds`` first, so a client still sending reads the 413 instead
of a reset connection. A client that sends nothing for ``upload_idle_timeout_seconds`` is cut off
(408). Other refusals read and discard up to ``drain_limit_bytes`` more before answering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import anyio.to_thread
from fastapi import Request, status
from fastapi.responses import JSONResponse
from pymongo.database import Database
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send
from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException, UnexpectedPartException
from streaming_form_data.targets import BaseTarget, ValueTarget
from streaming_form_data.validators import MaxSizeValidator, ValidationError

from common import webhooks
from common.logs import kv
from common.resources import VIDEOS_BUCKET
from gateway.auth import User
from gateway.containers import HEAD_BYTES, iso_bmff_problem
from gateway.filenames import clean_upload_name, multipart_filename
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
from gateway.storage import BatchSlots, GridFSWriter, StoredFile

log = logging.getLogger("gateway.uploads")

FILE_FIELD = "file"
FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and option fields around the file


class UploadRejected(Exception):
    """``close``: answer now and close the connection rather than read more of the body;
    ``linger``: before closing, let a client that is still sending finish writing briefly."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        close: bool = False,
        linger: bool = True,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.close = close
        self.linger = linger
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class ClosingRefusal(JSONResponse):
    """An answer sent whole at once, with ``Connection: close``, the connection closed after it.

    Closing a socket with unread bytes makes the kernel reset it, and a reset can destroy the answer
    before the client reads it; so, like nginx's lingering close, the body still arriving is read
    and discarded for at most ``linger_seconds`` (and ``linger_bytes``), none of it stored."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        linger_seconds: float,
        linger_bytes: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            {"detail": detail}, status_code=status_code, headers={**(headers or {}), "Connection": "close"}
        )
        self._linger_seconds = linger_seconds
        self._linger_bytes = linger_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        discarded = 0
        with anyio.move_on_after(self._linger_seconds):
            while discarded <= self._linger_bytes:
                message = await receive()
                discarded += len(message.get("body", b""))
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@dataclass(frozen=True)
class Room:
    """The most one upload may store, and the sentence that refuses more."""

    max_bytes: int
    too_large: str


@dataclass(frozen=True)
class ReceivedUpload:
    video: StoredFile
    filename: str
    options: OutputOptions


class _VideoTarget(BaseTarget):
    """The file part: checks the leading bytes, enforces the size cap, streams into GridFS."""

    def __init__(self, writer: GridFSWriter, max_bytes: int, too_large: str) -> None:
        super().__init__()
        self.writer = writer
        self.max_bytes = max_bytes
        self.too_large = too_large
        self.received = 0
        self.started = False
        self.finished = False
        self._head = b""
        self._checked = False
        self.body_head = b""  # the body up to this part's headers: its filename* is read there

    async def on_start_async(self) -> None:
        if self.started:  # the parser would append a second file part to the first
            raise UploadRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, "Send one video per upload.")
        self.started = True

    async def on_data_received_async(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise UploadRejected(status.HTTP_413_CONTENT_TOO_LARGE, self.too_large, close=True)
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


async def receive(
    request: Request,
    db: Database,
    settings: Settings,
    user: User,
    slots: BatchSlots,
    room: Room | None = None,
) -> ReceivedUpload:
    """Read the whole multipart body of ``request`` into GridFS; the video is committed only if
    everything about the upload is acceptable. ``slots``: the process's upload batches (its memory
    for uploads). ``room``: how much this user may store now (the upload cap unless their quota
    leaves less)."""
    room = room or Room(
        settings.max_upload_bytes,
        f"The video is larger than the limit of {human(settings.max_upload_bytes)}.",
    )
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadRejected(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "Send the video as multipart/form-data with the file in a part named 'file'.",
        )
    declared = content_length(request)
    if declared is not None and declared > room.max_bytes + FORM_OVERHEAD:  # refused without reading a byte
        raise UploadRejected(status.HTTP_413_CONTENT_TOO_LARGE, room.too_large, close=True)
    writer = GridFSWriter(db, VIDEOS_BUCKET, batch_bytes=settings.upload_batch_bytes, slots=slots)
    body = _Body(request, settings.upload_idle_timeout_seconds)
    started = time.monotonic()
    try:
        target, fields = await _parse(request, body, writer, room)
        try:
            options = parse_options(fields)
        except InvalidOptions as exc:
            raise UploadRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        if options.callback_url:
            await _check_callback(options.callback_url, settings)
        filename = clean_upload_name(multipart_filename(target.multipart_filename, target.body_head))
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
            if not exc.close:
                await body.drain(settings.drain_limit_bytes)
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
    request: Request, body: _Body, writer: GridFSWriter, room: Room
) -> tuple[_VideoTarget, dict[str, str]]:
    try:
        parser = StreamingFormDataParser(headers=request.headers, strict=True)
    except ParseFailedException as exc:
        raise UploadRejected(status.HTTP_400_BAD_REQUEST, f"Unusable multipart header: {exc}.") from None
    target = _VideoTarget(writer, room.max_bytes, room.too_large)
    parser.register(FILE_FIELD, target)
    values = {name: ValueTarget(validator=MaxSizeValidator(field_bytes(name))) for name in FIELDS}
    for name, value in values.items():
        parser.register(name, value)
    try:
        async for chunk in body.chunks():
            if not target.started and len(target.body_head) < FORM_OVERHEAD:
                target.body_head += chunk[: FORM_OVERHEAD - len(target.body_head)]
            await parser.adata_received(chunk)
    except ValidationError:
        longest = ", ".join(f"{name} {size}" for name, size in sorted(FIELD_BYTES.items()))
        raise UploadRejected(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"An option field is too long: at most {MAX_FIELD_BYTES} bytes (longer ones: {longest}).",
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


class _Body:
    """The request body as it arrives, cut off when the client sends nothing for ``idle_seconds``
    (uvicorn has no such timeout: a stalled client would hold its connection and chunks forever)."""

    def __init__(self, request: Request, idle_seconds: float) -> None:
        self._receive = request.receive
        self._idle_seconds = idle_seconds
        self._done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self._done:
            with anyio.move_on_after(self._idle_seconds) as idle:
                message = await self._receive()
            if idle.cancelled_caught:
                raise UploadRejected(
                    status.HTTP_408_REQUEST_TIMEOUT,
                    f"The upload stalled: nothing arrived for {self._idle_seconds:g} seconds.",
                    close=True,
                    linger=False,
                )
            if message["type"] == "http.disconnect":
                self._done = True
                raise ClientDisconnect()
            self._done = not message.get("more_body", False)
            if message.get("body"):
                yield message["body"]

    async def drain(self, limit: int) -> None:
        """Read and discard the rest of the body, up to ``limit`` bytes (the client is still sending)."""
        drained = 0
        try:
            async for chunk in self.chunks():
                drained += len(chunk)
                if drained > limit:
                    return
        except (ClientDisconnect, UploadRejected):  # gone, or stalled
            return


async def _check_callback(url: str, settings: Settings) -> None:
    """422 when the callback URL points where deliveries may not go (a private address, ...)."""
    try:
        await anyio.to_thread.run_sync(webhooks.check_address, url, settings.webhook_networks)
    except webhooks.UnsafeUrl as exc:
        raise UploadRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Invalid callbackUrl: {exc}.") from None


def content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


def human(size: int) -> str:
    """1073741824 -> '1 GiB'."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.4g} {unit}"
        value /= 1024
    return f"{value:.4g} TiB"
