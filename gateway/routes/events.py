"""Live job events: ``GET /jobs/events``, the signed-in user's job changes as Server-Sent Events
(the stream itself is described in :mod:`gateway.live`)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from gateway import live
from gateway.deps import CurrentUser, JobsDep, SettingsDep, WatchHttpDep
from gateway.schemas import problems
from gateway.watch import OwnerWatch

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get(
    "/events",
    summary="Your jobs' changes as they happen (Server-Sent Events)",
    description="A `text/event-stream`: `job` events (a job as `GET /jobs/{id}` shows it) for each "
    "job on connect, then `synced`, then `job` and `deleted` events as jobs change; `reset` when a "
    "resume point was too old (a fresh snapshot follows); `unavailable` while Kubernetes cannot be "
    "asked; a comment every 15 s. Reconnect with `Last-Event-ID` to receive what you missed. Only "
    "your own jobs, ever. Browsers sign in with the page's session cookie, other clients with a "
    "bearer token.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream"},
        **problems(401),
    },
)
async def job_events(
    user: CurrentUser,
    jobs: JobsDep,
    settings: SettingsDep,
    watch_http: WatchHttpDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    watch = OwnerWatch(watch_http, settings.namespace, user.id)
    return StreamingResponse(
        live.stream(
            watch,
            jobs.base_url,
            last_event_id,
            settings.events_heartbeat_seconds,
            seconds_left=max(0.0, user.expires_at - time.time()) if user.expires_at else None,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # no proxy buffering
    )
