"""Requests the gateway passes on to the auth service (POST /login, /refresh, /logout, and the web
page's sign-in): the body read under a limit, the caller named for auth's throttles, auth's answer
passed back with the headers a client needs, and an auth service that cannot be reached a 503."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import HTTPException, Request, Response, status

# what a client needs of auth's headers: the challenge, how long to wait, whether it may cache
PASSED_HEADERS = ("www-authenticate", "retry-after", "cache-control")


def client(request: Request) -> str:
    """Who calls (the TCP peer, or what a trusted proxy forwarded: see security.py). Auth throttles
    failed logins and signups per client: without this, every caller shares the gateway's address."""
    return request.client.host if request.client else "unknown"


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, or a 413 as soon as it passes ``limit`` bytes (it is not read further)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "The request is too large.")
    return body


async def post(http: httpx.AsyncClient, auth_url: str, path: str, **request: Any) -> httpx.Response:
    """POST ``path`` at the auth service (``request``: httpx's content/json/headers)."""
    try:
        return await http.post(f"{auth_url.rstrip('/')}{path}", **request)
    except httpx.HTTPError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The auth service cannot be reached; try again.",
            headers={"Retry-After": "5"},
        ) from None


def passed_back(resp: httpx.Response) -> Response:
    """Auth's answer as the gateway's."""
    headers = {k: v for k, v in resp.headers.items() if k.lower() in PASSED_HEADERS}
    if resp.status_code == status.HTTP_204_NO_CONTENT:
        return Response(status_code=resp.status_code, headers=headers)
    return Response(
        resp.content,
        status_code=resp.status_code,
        media_type=resp.headers.get("content-type", "application/json"),
        headers=headers,
    )
