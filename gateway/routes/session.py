"""The web page's session: sign up and sign in (at the auth service, through the gateway) into an
HttpOnly cookie, read the session's CSRF token, sign out. The rules are in :mod:`gateway.session`."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from gateway import auth_proxy, session
from gateway.deps import AuthHttpDep, CurrentUser, SettingsDep
from gateway.schemas import Problem, problems

# auth's throttle on failed logins and on signups, passed through with its Retry-After
THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"model": Problem, "description": "Too many failed logins or signups; see Retry-After"}
}
router = APIRouter(prefix="/session", tags=["session"])


class Credentials(BaseModel):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    email: str
    csrf: str | None = Field(description=f"Send it as {session.CSRF_HEADER} on POST and DELETE requests")


@router.post(
    "",
    response_model=SessionOut,
    summary="Sign in for the web page: sets an HttpOnly session cookie",
    responses={401: {"description": "Wrong email or password"}, **THROTTLED, **problems(400, 422, 503)},
)
async def sign_in(
    body: Credentials, request: Request, response: Response, settings: SettingsDep, auth_http: AuthHttpDep
) -> SessionOut:
    public_url, auth_url = settings.public_url.unicode_string(), str(settings.auth_url)
    return await _sign_in(body, response, public_url, auth_url, auth_http, auth_proxy.client(request))


@router.post(
    "/signup",
    response_model=SessionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an account and sign in for the web page",
    responses={409: {"description": "The email is taken"}, **THROTTLED, **problems(400, 422, 503)},
)
async def sign_up(
    body: Credentials, request: Request, response: Response, settings: SettingsDep, auth_http: AuthHttpDep
) -> SessionOut:
    created = await _auth(auth_http, str(settings.auth_url), "/signup", body, auth_proxy.client(request))
    if created.status_code != status.HTTP_201_CREATED:
        raise HTTPException(created.status_code, _detail(created))
    public_url, auth_url = settings.public_url.unicode_string(), str(settings.auth_url)
    return await _sign_in(body, response, public_url, auth_url, auth_http, auth_proxy.client(request))


@router.get(
    "",
    response_model=SessionOut,
    summary="Who is signed in, and the session's CSRF token",
    responses=problems(401),
)
async def who(request: Request, user: CurrentUser) -> SessionOut:
    cookie = request.cookies.get(session.COOKIE)
    return SessionOut(email=user.email, csrf=session.csrf_token(cookie) if cookie else None)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Sign out of the web page")
async def sign_out(settings: SettingsDep) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    attributes = session.cookie_attributes(settings.public_url.unicode_string(), 0)
    response.delete_cookie(
        session.COOKIE, path="/", secure=bool(attributes["secure"]), httponly=True, samesite="strict"
    )
    return response


async def _sign_in(
    body: Credentials,
    response: Response,
    public_url: str,
    auth_url: str,
    auth_http: httpx.AsyncClient,
    client: str,
) -> SessionOut:
    login = await _auth(auth_http, auth_url, "/login", body, client)
    if login.status_code != status.HTTP_200_OK:
        headers = {"Retry-After": login.headers["retry-after"]} if "retry-after" in login.headers else None
        raise HTTPException(login.status_code, _detail(login), headers=headers)
    token = login.json()
    access, expires_in = str(token["access_token"]), int(token.get("expires_in", 900))
    response.set_cookie(value=access, **session.cookie_attributes(public_url, expires_in))  # type: ignore[arg-type]
    return SessionOut(email=body.email, csrf=session.csrf_token(access))


async def _auth(
    http: httpx.AsyncClient, auth_url: str, path: str, body: Credentials, client: str
) -> httpx.Response:
    headers = {"X-Forwarded-For": client}  # auth throttles per client (auth_proxy.client)
    return await auth_proxy.post(http, auth_url, path, json=body.model_dump(), headers=headers)


def _detail(resp: httpx.Response) -> str:
    """The auth service's reason as one sentence (its 422s carry a list of field errors)."""
    try:
        detail: Any = resp.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, list):
        parts = [str(d.get("msg", "")).removeprefix("Value error, ") for d in detail if isinstance(d, dict)]
        detail = "; ".join(p for p in parts if p)
    if not detail:
        return f"The auth service answered {resp.status_code}."
    return str(detail) if str(detail).endswith(".") else f"{detail}."
