"""The auth API: signup, login, the JWKS, token validation, health and readiness.

Routes that touch MySQL or argon2 are plain ``def`` (they block: FastAPI runs them in its thread
pool); the CPU-light ones (JWKS, validate: one RSA verification) are ``async`` and skip that hop.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from auth import sessions, tokens, users
from auth.database import DatabaseUnavailable
from auth.deps import (
    REALM,
    BasicDep,
    BearerDep,
    DatabaseDep,
    HasherDep,
    KeysDep,
    SettingsDep,
    SignupThrottleDep,
    ThrottleDep,
)
from auth.passwords import policy_problem
from auth.schemas import (
    Claims,
    Credentials,
    ErrorOut,
    Health,
    Jwks,
    RefreshRequest,
    SignupRequest,
    TokenOut,
    TokenVersion,
    UserOut,
)
from common.logs import kv

log = logging.getLogger("auth.routes")
router = APIRouter()

WRONG_CREDENTIALS = "Wrong email or password."
BASIC_CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'
BEARER_CHALLENGE = f'Bearer realm="{REALM}"'
MALFORMED: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body is not JSON"}
}
USER_ID = re.compile(r"[0-9a-f]{32}")  # users.create's ids
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "The user database is unreachable; retry later"}
}


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={
        409: {"model": ErrorOut, "description": "The email is taken"},
        429: {"model": ErrorOut, "description": "Too many signups from this client; see Retry-After"},
        **MALFORMED,
        **UNAVAILABLE,
    },
)
def signup(
    request: Request,
    body: SignupRequest,
    settings: SettingsDep,
    db: DatabaseDep,
    hasher: HasherDep,
    throttle: SignupThrottleDep,
) -> UserOut:
    """Create an account. Emails are unique case-insensitively; the password is stored as argon2id.
    Each client may sign up a limited number of times per window (taken addresses count too)."""
    problem = policy_problem(body.password, body.email, settings.password_min_length)
    if problem:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"type": "password_policy", "loc": ["body", "password"], "msg": problem}],
        )
    client = _client(request)
    with db.connection() as conn:
        wait = throttle.retry_after(conn, client=client)
        if not wait:
            throttle.record(conn, client=client)
    if wait:
        log.info(kv(event="signup.throttled", client=client, retry_after=wait))
        limit = throttle.limit
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many signups from this client (the limit is {limit.max_failures} per "
            f"{_duration(limit.window.total_seconds())}); try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    password_hash = hasher.hash(body.password)
    try:
        with db.connection() as conn:
            user = users.create(conn, email=body.email, password_hash=password_hash)
    except users.EmailTaken:
        raise HTTPException(status.HTTP_409_CONFLICT, "An account with this email already exists.") from None
    log.info(kv(event="user.created", user=user.id))
    return UserOut(id=user.id, email=user.email)


@router.post(
    "/login",
    response_model=TokenOut,
    responses={
        401: {"model": ErrorOut, "description": "Wrong email or password"},
        429: {"model": ErrorOut, "description": "Too many failed logins; see Retry-After"},
        **MALFORMED,
        **UNAVAILABLE,
    },
)
def login(
    request: Request,
    response: Response,
    settings: SettingsDep,
    db: DatabaseDep,
    hasher: HasherDep,
    throttle: ThrottleDep,
    keys: KeysDep,
    basic: BasicDep,
    body: Annotated[Credentials | None, Body()] = None,
) -> TokenOut:
    """Exchange an email and password (JSON body, or HTTP Basic as in `curl -u email:password`)
    for an RS256 access token."""
    if body is not None:
        email, password = body.email, body.password
    elif basic is not None:
        email, password = basic.username, basic.password
    else:
        raise _unauthorized("Send your email and password as JSON or with HTTP Basic.")
    key = users.email_key(email)
    client = _client(request)
    with db.connection() as conn:
        wait = throttle.retry_after(conn, email_key=key, client=client)
        user = None if wait else users.find_by_email(conn, key)
    if wait:
        log.info(kv(event="login.throttled", client=client, retry_after=wait))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many failed logins for this account or from this client; try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    matched = hasher.verify(user.password_hash if user else None, password)
    if user is None or not matched:
        with db.connection() as conn:
            throttle.record_failure(conn, email_key=key, client=client)
        log.info(kv(event="login.failed", client=client, known_user=user is not None))
        raise _unauthorized(WRONG_CREDENTIALS)
    new_hash = hasher.hash(password) if hasher.needs_rehash(user.password_hash) else None
    with db.connection() as conn:
        throttle.record_success(conn, email_key=key)
        if new_hash:
            users.update_password_hash(conn, user_id=user.id, password_hash=new_hash)
        version = sessions.token_version(conn, user.id) or 0
        refresh = sessions.issue(conn, user_id=user.id, ttl=timedelta(seconds=settings.refresh_ttl_seconds))
        sessions.forget_expired(conn)
    response.headers["Cache-Control"] = "no-store"
    log.info(kv(event="login.succeeded", user=user.id, client=client, rehashed=new_hash is not None))
    return _tokens(sessions.Session(user.id, user.email, version), refresh, settings, keys)


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses={
        401: {"model": ErrorOut, "description": "The refresh token is unknown, expired, revoked or reused"},
        **MALFORMED,
        **UNAVAILABLE,
    },
)
def refresh(
    body: RefreshRequest, response: Response, settings: SettingsDep, db: DatabaseDep, keys: KeysDep
) -> TokenOut:
    """Exchange a refresh token for a new access token and a new refresh token (the old one is
    spent: presenting it again revokes the session)."""
    try:
        with db.connection() as conn:
            session, successor = sessions.rotate(
                conn, body.refresh_token, ttl=timedelta(seconds=settings.refresh_ttl_seconds)
            )
    except sessions.InvalidRefresh as exc:
        log.info(kv(event="refresh.refused", reason=exc))
        raise _unauthorized(str(exc), f'{BEARER_CHALLENGE}, error="invalid_token"') from None
    response.headers["Cache-Control"] = "no-store"
    log.info(kv(event="refresh.succeeded", user=session.user_id))
    return _tokens(session, successor, settings, keys)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        401: {"model": ErrorOut, "description": "The refresh token is unknown"},
        **MALFORMED,
        **UNAVAILABLE,
    },
)
def logout(body: RefreshRequest, db: DatabaseDep) -> Response:
    """End the session of this refresh token: it and every token rotated from it stop working,
    and the user's access tokens issued so far are refused by the gateway within seconds."""
    try:
        with db.connection() as conn:
            user_id = sessions.logout(conn, body.refresh_token)
    except sessions.InvalidRefresh as exc:
        raise _unauthorized(str(exc), f'{BEARER_CHALLENGE}, error="invalid_token"') from None
    log.info(kv(event="logout.succeeded", user=user_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/users/{user_id}/token-version",
    response_model=TokenVersion,
    responses={404: {"model": ErrorOut, "description": "No such user"}, **UNAVAILABLE},
)
def token_version(user_id: str, response: Response, db: DatabaseDep) -> TokenVersion:
    """The user's token version, for the gateway: access tokens with a lower `ver` were logged out."""
    if not USER_ID.fullmatch(user_id):  # not an id we make; MySQL refuses some (a 500 otherwise)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such user.")
    with db.connection() as conn:
        version = sessions.token_version(conn, user_id)
    if version is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such user.")
    response.headers["Cache-Control"] = "no-store"
    return TokenVersion(version=version)


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(response: Response, keys: KeysDep) -> dict[str, Any]:
    """The public keys that verify our tokens (match a token's `kid`; refetch on an unknown one)."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return keys.ring().jwks()


@router.post(
    "/validate",
    response_model=Claims,
    responses={401: {"model": ErrorOut, "description": "Missing, invalid or expired token"}},
)
async def validate(credentials: BearerDep, settings: SettingsDep, keys: KeysDep) -> dict[str, Any]:
    """The claims of a valid `Authorization: Bearer` token (for clients that prefer a call to a JWKS)."""
    if credentials is None:
        raise _unauthorized("Send the token as Authorization: Bearer <token>.", BEARER_CHALLENGE)
    try:
        return tokens.verify(
            credentials.credentials,
            ring=keys.ring(),
            issuer=settings.issuer,
            audience=settings.audience,
            leeway=settings.leeway_seconds,
        )
    except tokens.InvalidToken as exc:
        raise _unauthorized(str(exc), f'{BEARER_CHALLENGE}, error="invalid_token"') from None


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process serves requests (MySQL is not consulted)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(db: DatabaseDep, keys: KeysDep) -> Any:
    """Readiness: MySQL answers and the schema is migrated; a signing key is loaded."""
    checks = {"keys": f"{len(keys.ring().keys)} published, signer {keys.ring().signer.kid}"}
    try:
        db.check()
    except DatabaseUnavailable as exc:
        checks["mysql"] = f"unreachable: {exc}"
        return JSONResponse(
            Health(status="unavailable", checks=checks).model_dump(),
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    checks["mysql"] = "ok"
    return Health(status="ready", checks=checks)


def _tokens(session: sessions.Session, refresh: str, settings: SettingsDep, keys: KeysDep) -> TokenOut:
    issued = tokens.issue(
        user_id=session.user_id,
        email=session.email,
        ring=keys.ring(),
        issuer=settings.issuer,
        audience=settings.audience,
        ttl=settings.token_ttl_seconds,
        version=session.version,
    )
    return TokenOut(
        access_token=issued.token,
        expires_in=issued.expires_in,
        refresh_token=refresh,
        refresh_expires_in=settings.refresh_ttl_seconds,
    )


def _client(request: Request) -> str:
    """The client's address: the TCP peer, or what a trusted proxy forwarded (see app.py)."""
    return request.client.host if request.client else "unknown"


def _duration(seconds: float) -> str:
    """3600 -> 'hour', 7200 -> '2 hours', 90 -> '90 seconds'."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{int(seconds)} seconds"


def _unauthorized(detail: str, challenge: str = BASIC_CHALLENGE) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": challenge})
