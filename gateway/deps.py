"""What the gateway's routes receive through ``Depends``: each route asks for the narrow thing it
uses (the database, the job service, the caller...), never the whole bag of connections.

The objects live in :class:`gateway.resources.Resources`, opened once by the app's lifespan; the
functions here only hand out one of them each, so a test swaps a server's address, not code.
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.database import Database

from common import links
from common.tokens import InvalidToken
from gateway import session
from gateway.auth import KeysUnavailable, TokenVerifier, User
from gateway.events import Publisher
from gateway.jobs import JobService
from gateway.k8s import ConversionJobs
from gateway.limits import UserLimits
from gateway.resources import Indexes, Resources
from gateway.settings import Settings, get_settings
from gateway.storage import BatchSlots


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


_ResourcesDep = Annotated[Resources, Depends(_resources)]  # private: routes take one of the below


def get_db(resources: _ResourcesDep) -> Database:
    return resources.db


def get_jobs(resources: _ResourcesDep) -> JobService:
    return resources.jobs


def get_publisher(resources: _ResourcesDep) -> Publisher:
    return resources.publisher


def get_conversion_jobs(resources: _ResourcesDep) -> ConversionJobs:
    return resources.conversion_jobs


def get_auth_http(resources: _ResourcesDep) -> httpx.AsyncClient:
    return resources.auth_http


def get_indexes(resources: _ResourcesDep) -> Indexes:
    return resources.indexes


def get_batch_slots(resources: _ResourcesDep) -> BatchSlots:
    return resources.batch_slots


def get_watch_http(resources: _ResourcesDep) -> httpx.AsyncClient:
    return resources.watch_http


def get_verifier(resources: _ResourcesDep) -> TokenVerifier:
    return resources.verifier


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
BatchSlotsDep = Annotated[BatchSlots, Depends(get_batch_slots)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
PublisherDep = Annotated[Publisher, Depends(get_publisher)]
ConversionJobsDep = Annotated[ConversionJobs, Depends(get_conversion_jobs)]
AuthHttpDep = Annotated[httpx.AsyncClient, Depends(get_auth_http)]
IndexesDep = Annotated[Indexes, Depends(get_indexes)]
WatchHttpDep = Annotated[httpx.AsyncClient, Depends(get_watch_http)]
VerifierDep = Annotated[TokenVerifier, Depends(get_verifier)]


def get_limits(db: DbDep, conversion_jobs: ConversionJobsDep, settings: SettingsDep) -> UserLimits:
    return UserLimits(db, conversion_jobs, settings)


LimitsDep = Annotated[UserLimits, Depends(get_limits)]

_bearer = HTTPBearer(auto_error=False, description="An access token from the auth service's POST /login")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": 'Bearer realm="mp4mp3"'}
    )


async def current_user(request: Request, credentials: BearerDep, verifier: VerifierDep) -> User:
    """The caller, from ``Authorization: Bearer <token>`` or the web page's session cookie (with
    its CSRF token on state-changing requests); 401/403 with the reason otherwise."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = credentials.credentials
    elif cookie := request.cookies.get(session.COOKIE):
        if not session.csrf_ok(request.method, cookie, request.headers.get(session.CSRF_HEADER)):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"Send the page's CSRF token in {session.CSRF_HEADER} (GET /session gives it).",
            )
        token = cookie
    else:
        raise _unauthorized("Send a bearer token: Authorization: Bearer <access_token from POST /login>.")
    try:
        return await verifier.verify(token)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from None
    except KeysUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": "5"}
        ) from None


CurrentUser = Annotated[User, Depends(current_user)]


async def mp3_caller(
    job_id: str,
    request: Request,
    credentials: BearerDep,
    verifier: VerifierDep,
    settings: SettingsDep,
    link: Annotated[
        str | None,
        Query(description="A signed download link's token (from the email); replaces the bearer token"),
    ] = None,
) -> User:
    """Who may download this job's MP3: the bearer token's user, or the owner an emailed link names
    (for this job only, until it expires; a deleted job's link finds nothing)."""
    if link is None:
        return await current_user(request, credentials, verifier)
    secret = settings.download_link_secret
    if secret is None:
        raise _unauthorized("Download links are not enabled here; log in and use a bearer token.")
    try:
        owner = links.verify(
            link, secret=secret.get_secret_value(), job=job_id, leeway=settings.jwt_leeway_seconds
        )
    except links.InvalidLink as exc:
        raise _unauthorized(str(exc)) from None
    return User(id=owner, email="")


Mp3Caller = Annotated[User, Depends(mp3_caller)]
