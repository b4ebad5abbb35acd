"""The gateway's FastAPI application: ``uvicorn gateway.app:create_app --factory``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import pymongo.errors
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from common import logs
from common.logs import kv
from common.resources import VIDEOS_BUCKET
from common.storage import server_unavailable
from gateway import jobs, metrics, page, security, storage
from gateway.resources import Resources
from gateway.routes import downloads, events, health, seed, sessions, webhooks
from gateway.routes import jobs as job_routes
from gateway.routes import session as session_routes
from gateway.schemas import Problem
from gateway.settings import Settings, get_settings
from gateway.uploads import ClosingRefusal, UploadRejected

log = logging.getLogger("gateway")

DESCRIPTION = """\
Convert MP4 videos to MP3 audio.

1. Get a token: `POST /login` here (proxied to the auth service) or at the auth service itself.
2. `POST /jobs` with the video as multipart field `file` (and output options as fields): 202
   with the job's `id` and `url`.
3. Poll `GET /jobs/{id}` until `phase` is `Succeeded` (an email tells you too), then
   `GET /jobs/{id}/mp3`.

Send the token as `Authorization: Bearer <access_token>`. Every error body is
`{"detail": "<a sentence saying what to do>"}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.setup(settings.log_level)
    # pika logs a dropped connection with tracebacks at ERROR; the publisher reconnects and logs
    # what matters itself (amqp.reconnect, job.event_not_published)
    logging.getLogger("pika").setLevel(logging.CRITICAL)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = Resources.open(settings)
        app.state.resources = resources
        await resources.indexes.ensure()
        log.info(kv(event="gateway.started", namespace=settings.namespace, public_url=settings.public_url))
        sweeper = asyncio.create_task(_sweep_orphans(resources)) if settings.orphan_sweep_seconds else None
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await resources.close()

    app = FastAPI(
        title="mp4mp3",
        version="1.0",
        summary="MP4 to MP3 conversion: upload, follow, download",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "jobs", "description": "Upload videos and follow their conversion"},
            {"name": "downloads", "description": "Fetch the MP3s"},
            {"name": "session", "description": "The web page's sign-in (an HttpOnly cookie)"},
            {"name": "webhooks", "description": "Outcomes POSTed to your URLs, signed"},
            {"name": "seed-compatible", "description": "The original project's routes, for its clients"},
            {"name": "sessions", "description": "Keep (refresh) and end (logout) a login's session"},
            {"name": "health", "description": "Probes for Kubernetes"},
        ],
    )
    app.dependency_overrides[get_settings] = lambda: settings
    # events before jobs: /jobs/events must not be taken for the job id "events"
    for router in (
        events.router,
        job_routes.router,
        downloads.router,
        webhooks.router,
        session_routes.router,
        seed.router,
        sessions.router,
        health.router,
    ):
        app.include_router(router)
    page.mount(app)  # the web page at / and its static files
    if settings.metrics_enabled:
        metrics.install(app)
    _install_error_handlers(app)
    security.install(app, settings)
    _document_invalid_requests(app)
    return app


async def _sweep_orphans(resources: Resources) -> None:
    """Now and every ``orphan_sweep_seconds``: remove the chunks of uploads a killed gateway left
    (every replica sweeps; deleting what another replica deleted is nothing)."""
    settings = resources.settings
    while True:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.orphan_age_seconds)
        try:
            removed = await anyio.to_thread.run_sync(
                storage.sweep_orphan_chunks, resources.db, VIDEOS_BUCKET, cutoff
            )
            if removed:
                log.info(kv(event="uploads.orphans_removed", files=removed, begun_before=cutoff.isoformat()))
        except pymongo.errors.PyMongoError as exc:  # the next round tries again
            log.warning(kv(event="uploads.orphan_sweep_failed", error=exc))
        await asyncio.sleep(settings.orphan_sweep_seconds)


def _document_invalid_requests(app: FastAPI) -> None:
    """Say in the OpenAPI document what a 422 really is here: the ``invalid_request`` handler
    answers one sentence naming each invalid field, not FastAPI's list of errors."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = {
                **Problem.model_json_schema(),
                "title": "HTTPValidationError",
                "description": "Invalid request: each invalid field and why, in one sentence",
            }
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _problem(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UploadRejected)
    async def upload_rejected(request: Request, exc: UploadRejected) -> JSONResponse:
        if exc.close:
            settings: Settings = app.dependency_overrides.get(get_settings, get_settings)()
            return ClosingRefusal(
                exc.status_code,
                exc.detail,
                linger_seconds=settings.reject_linger_seconds if exc.linger else 0.0,
                linger_bytes=settings.drain_limit_bytes,
                headers=exc.headers,
            )
        return _problem(exc.status_code, exc.detail, exc.headers or None)

    @app.exception_handler(jobs.NotFound)
    async def not_found(_: Request, exc: jobs.NotFound) -> JSONResponse:
        return _problem(status.HTTP_404_NOT_FOUND, str(exc))

    @app.exception_handler(jobs.NotReady)
    async def not_ready(_: Request, exc: jobs.NotReady) -> JSONResponse:
        return _problem(status.HTTP_409_CONFLICT, str(exc))

    @app.exception_handler(jobs.Conflict)
    async def conflict(_: Request, exc: jobs.Conflict) -> JSONResponse:
        return _problem(status.HTTP_409_CONFLICT, str(exc))

    @app.exception_handler(jobs.Refused)
    async def refused(_: Request, exc: jobs.Refused) -> JSONResponse:
        return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))

    @app.exception_handler(jobs.Unavailable)
    async def unavailable(_: Request, exc: jobs.Unavailable) -> JSONResponse:
        return _problem(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), {"Retry-After": "5"})

    @app.exception_handler(pymongo.errors.ConnectionFailure)
    @app.exception_handler(pymongo.errors.OperationFailure)
    async def mongo_down(request: Request, exc: pymongo.errors.PyMongoError) -> JSONResponse:
        if not server_unavailable(exc):
            raise exc  # a command the database refused: our bug, a 500 with its traceback
        log.warning(kv(event="mongo.unreachable", path=request.url.path, error=exc))
        return _problem(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The database is unreachable; try again.",
            {"Retry-After": "5"},
        )

    @app.exception_handler(ClientDisconnect)
    async def client_gone(_: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=status.HTTP_400_BAD_REQUEST)  # nobody reads it; no traceback

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = []
        for err in exc.errors():
            where = " ".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
            reasons.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, "Invalid request: " + "; ".join(reasons) + ".")
