"""POST /refresh and POST /logout, proxied to the auth service like POST /login (routes/seed.py),
so a client that knows only the gateway's address can keep and end its session."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request, Response, status

from gateway import auth_proxy
from gateway.deps import AuthHttpDep, SettingsDep
from gateway.schemas import Token, problems

router = APIRouter(tags=["sessions"])

MAX_BODY = 4 * 1024  # {"refresh_token": "..."}
# The body is passed to auth unread; documented here as auth documents it.
REFRESH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["refresh_token"],
                    "properties": {"refresh_token": {"type": "string", "minLength": 1, "maxLength": 200}},
                }
            }
        },
    }
}
# Auth's answers to a body it cannot use, passed through as they are.
AUTH_REFUSALS: dict[int | str, dict[str, object]] = {
    400: {"description": "The body is not JSON"},
    422: {"description": "No refresh_token in the body (auth's list of the invalid fields)"},
}


@router.post(
    "/refresh",
    response_model=Token,
    summary="New tokens for a refresh token (proxied to the auth service); each refresh token works once",
    responses={
        401: {"description": "The refresh token is unknown, expired, revoked or reused"},
        **AUTH_REFUSALS,
        **problems(413, 503),
    },
    openapi_extra=REFRESH_BODY,
)
async def refresh(request: Request, settings: SettingsDep, auth_http: AuthHttpDep) -> Response:
    return await _proxy(request, settings, auth_http, "/refresh")


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the session of a refresh token (proxied to auth); its access tokens stop working in seconds",
    responses={401: {"description": "The refresh token is unknown"}, **AUTH_REFUSALS, **problems(413, 503)},
    openapi_extra=REFRESH_BODY,
)
async def logout(request: Request, settings: SettingsDep, auth_http: AuthHttpDep) -> Response:
    return await _proxy(request, settings, auth_http, "/logout")


async def _proxy(
    request: Request, settings: SettingsDep, auth_http: httpx.AsyncClient, path: str
) -> Response:
    body = await auth_proxy.read_body(request, MAX_BODY)
    content_type = request.headers.get("content-type", "application/json")
    resp = await auth_proxy.post(
        auth_http, str(settings.auth_url), path, content=body, headers={"Content-Type": content_type}
    )
    return auth_proxy.passed_back(resp)
