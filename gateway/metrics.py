"""The gateway's Prometheus metrics (``prometheus_client``), served at ``GET /metrics`` on its own port.

- ``mp4mp3_gateway_requests_total{method,route,status}`` and
  ``mp4mp3_gateway_request_duration_seconds{method,route}``: every request, by its route's template
  (``/jobs/{job_id}``, never the id itself: the label set stays small);
- ``mp4mp3_gateway_upload_bytes_total``, ``mp4mp3_gateway_upload_duration_seconds`` and
  ``mp4mp3_gateway_uploads_total{status}``: request bodies of the upload routes, as received.

Counted by a plain ASGI middleware (no body buffering: uploads stream through untouched).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_ROUTES = frozenset({"/jobs", "/upload"})  # POST: the video uploads (routes/jobs.py, routes/seed.py)
UNMATCHED = "unmatched"  # no route: 404s of any path count under one label

REQUESTS = Counter("mp4mp3_gateway_requests", "HTTP requests answered", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "mp4mp3_gateway_request_duration_seconds",
    "Time from a request's start to its response's end",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
UPLOAD_BYTES = Counter("mp4mp3_gateway_upload_bytes", "Bytes of upload request bodies received")
UPLOAD_SECONDS = Histogram(
    "mp4mp3_gateway_upload_duration_seconds",
    "Time to receive and store an upload and start its job",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
UPLOADS = Counter("mp4mp3_gateway_uploads", "Upload requests answered, by status", ["status"])


def install(app: FastAPI) -> None:
    """Count every request, and serve ``GET /metrics`` (left out of the OpenAPI document)."""
    app.add_middleware(MetricsMiddleware)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500  # what the server answers if the app raises before responding
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, counting_receive, recording_send)
        finally:
            self._observe(scope, status, received, time.monotonic() - started)

    @staticmethod
    def _observe(scope: Scope, status: int, received: int, seconds: float) -> None:
        route = _route(scope)
        method = scope["method"]
        REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        REQUEST_SECONDS.labels(method=method, route=route).observe(seconds)
        if method == "POST" and route in UPLOAD_ROUTES:
            UPLOAD_BYTES.inc(received)
            UPLOAD_SECONDS.observe(seconds)
            UPLOADS.labels(status=str(status)).inc()


def _route(scope: Scope) -> str:
    # FastAPI's router puts the matched route into the scope (the same dict we hold)
    route: Any = scope.get("route")
    return str(getattr(route, "path", UNMATCHED))
