"""What the gateway does to every request and answer for safety's sake: who the client is behind
a trusted proxy, the usual security headers, and CORS (closed unless origins are configured)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway.settings import Settings

# on every answer (a route that sets one of these keeps its own)
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# only over https: browsers ignore it on an untrustworthy (http, non-loopback) origin, and say so in
# the console on every page load
SECURE_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# JSON and files are never a page: nothing may run, load or frame them. HTML pages (the API docs,
# which load Swagger UI from a CDN) only forbid framing, unless they set a policy of their own.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = "frame-ancestors 'none'"
CORS_METHODS = ["GET", "POST", "DELETE"]
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "Range", "If-None-Match", "If-Range"]
CORS_EXPOSED_HEADERS = ["Location", "Content-Disposition", "Content-Range", "ETag", "Retry-After"]


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middlewares. Starlette runs the last added first: proxies resolve the client and
    scheme before the headers are chosen; CORS answers preflights inside the headers."""
    origins = origin_list(settings.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            allow_credentials=False,  # bearer tokens, sent explicitly; no ambient credentials
            max_age=600,
        )
    app.add_middleware(SecurityHeaders)
    if settings.trusted_proxies.strip():
        # request.client becomes the address the ingress controller saw; the seed /login passes it
        # to auth, whose throttle counts failures per client
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies.strip())


def origin_list(value: str) -> list[str]:
    """'https://a.example, https://b.example' -> both; '' -> none (CORS closed)."""
    return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]


class SecurityHeaders:
    """Adds COMMON_HEADERS, a Content-Security-Policy, and SECURE_HEADERS on https, to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
                page = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("Content-Security-Policy", PAGE_POLICY if page else DATA_POLICY)
                if secure:
                    for name, value in SECURE_HEADERS.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
