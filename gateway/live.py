"""Live job events (``GET /jobs/events``): a user's ConversionJob changes as Server-Sent Events.

The stream, as a client sees it:
- without ``Last-Event-ID``: one ``job`` event per existing job, then ``synced`` (carrying an id);
- then, as they happen: ``job`` (created or changed: the job as ``GET /jobs/{id}`` shows it, less
  the upload's options) and ``deleted`` (``{"id": ...}``), each with an id;
- ``reset`` when the resume point was too old: a fresh snapshot follows, as after a first connect;
- ``unavailable`` while Kubernetes cannot be asked (the stream stays open and catches up after);
- a comment every ``heartbeat`` seconds so proxies and clients know the stream is alive.

Event ids are the API server's resourceVersions: a client that reconnects with ``Last-Event-ID``
gets every change it missed (the browser's EventSource does this by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from common.logs import kv
from gateway.k8s import KubeUnavailable
from gateway.views import status_fields
from gateway.watch import Expired, OwnerWatch

log = logging.getLogger("gateway.live")

HEARTBEAT_SECONDS = 15.0
RETRY_MILLISECONDS = 3000  # how long a browser waits before reconnecting
MAX_BACKOFF_SECONDS = 30.0
QUEUE_EVENTS = 256  # a client that does not read stalls its own watch, nobody else's


def resource_view(resource: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """A job as ``GET /jobs/{id}`` shows it, built from its ConversionJob alone (pure)."""
    meta, spec = resource.get("metadata") or {}, resource.get("spec") or {}
    source = spec.get("source") or {}
    job_id = str(meta.get("name", ""))
    url = f"{base_url}/jobs/{job_id}"
    return {
        "id": job_id,
        "url": url,
        "filename": source.get("filename"),
        "size": source.get("size"),
        "sha256": source.get("sha256"),
        "created": meta.get("creationTimestamp"),
        **status_fields(resource.get("status") or {}, url),
        "deleting": bool(meta.get("deletionTimestamp")),
    }


def sse(event: str, data: Any, event_id: str | None = None) -> str:
    """One Server-Sent Event; ``data`` as one line of JSON (no newline can split it)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def resume_point(last_event_id: str | None) -> str | None:
    """The resourceVersion to resume after, if the client sent a usable one (ours are digits)."""
    value = (last_event_id or "").strip()
    return value if value.isdigit() and len(value) <= 32 else None


async def stream(
    watch: OwnerWatch,
    base_url: str,
    last_event_id: str | None,
    heartbeat: float = HEARTBEAT_SECONDS,
    seconds_left: float | None = None,
) -> AsyncIterator[str]:
    """The event stream of one client, until it goes away or, after ``seconds_left`` (its
    token's lifetime), ends it: the client reconnects with a fresh token or is refused."""
    queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_EVENTS)
    producer = asyncio.create_task(_produce(watch, base_url, resume_point(last_event_id), queue))
    loop = asyncio.get_running_loop()
    ends = loop.time() + seconds_left if seconds_left is not None else None
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        while True:
            left = ends - loop.time() if ends is not None else heartbeat
            if left <= 0:
                return
            try:
                item = await asyncio.wait_for(queue.get(), min(heartbeat, left))
            except TimeoutError:
                if ends is None or ends - loop.time() > 0:
                    yield ": heartbeat\n\n"
                continue
            if item is None:  # the producer gave up: the client reconnects and resumes
                return
            yield item
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer


async def _produce(
    watch: OwnerWatch, base_url: str, since: str | None, queue: asyncio.Queue[str | None]
) -> None:
    failures = 0
    try:
        while True:
            try:
                if since is None:
                    since = await _snapshot(watch, base_url, queue)
                async for change in watch.changes(since):
                    since = change.resource_version or since
                    await queue.put(_event(change.type, change.object, base_url, since))
                failures = 0  # the API server ended the watch on time: start the next one
            except Expired:
                log.info(kv(event="events.resync", since=since))
                await queue.put(sse("reset", {"detail": "Missed too much; here is every job again."}))
                since = None
            except KubeUnavailable as exc:
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 2.0**failures)
                log.warning(kv(event="events.kube_unavailable", error=exc, retry_in=delay))
                await queue.put(
                    sse(
                        "unavailable",
                        {"detail": "Kubernetes cannot be asked right now; live updates resume soon."},
                    )
                )
                await asyncio.sleep(delay)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug must not leave the client with heartbeats only: end the stream
        log.exception(kv(event="events.failed", error=exc))
        await queue.put(None)


async def _snapshot(watch: OwnerWatch, base_url: str, queue: asyncio.Queue[str | None]) -> str:
    items, version = await watch.snapshot()
    items.sort(key=lambda r: str(r.get("metadata", {}).get("creationTimestamp", "")))
    for item in items:
        await queue.put(sse("job", resource_view(item, base_url)))
    await queue.put(sse("synced", {"jobs": len(items)}, version))
    return version


def _event(kind: str, resource: Mapping[str, Any], base_url: str, version: str) -> str:
    if kind == "BOOKMARK":  # nothing changed; moves the client's resume point forward
        return f"id: {version}\n\n"
    if kind == "DELETED":
        return sse("deleted", {"id": resource.get("metadata", {}).get("name")}, version)
    return sse("job", resource_view(resource, base_url), version)
