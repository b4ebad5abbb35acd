"""The auth service's FastAPI app: ``uvicorn auth.app:create_app --factory``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from auth import migrations, routes
from auth.database import Database, DatabaseUnavailable
from auth.keys import KeyStore
from auth.passwords import PasswordHasher
from auth.ratelimit import Limit, LoginThrottle, SignupThrottle
from auth.settings import Settings, get_settings
from common import logs
from common.logs import kv

log = logging.getLogger("auth.app")

UNAVAILABLE_DETAIL = "The user database is unavailable right now; please try again in a few seconds."
RETRY_AFTER_SECONDS = 5


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app. Settings come from AUTH_* env unless given (tests pass their own)."""
    app = FastAPI(
        title="mp4mp3 auth",
        version="1.0.0",
        summary="Accounts and RS256 access tokens for mp4mp3; public keys at /.well-known/jwks.json.",
        lifespan=_lifespan,
    )
    if settings is not None:
        app.dependency_overrides[get_settings] = lambda: settings
    trusted = (settings or get_settings()).trusted_proxies.strip()
    if trusted:
        # The throttles key on request.client: behind the gateway or an ingress controller that is
        # the proxy, unless the proxy's X-Forwarded-For is believed. Only from these addresses: a
        # client talking to auth directly could otherwise pick a fresh address per attempt.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    app.include_router(routes.router)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.dependency_overrides.get(get_settings, get_settings)()
    logs.setup(settings.log_level)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own lines in the same key=value format
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    app.state.keys = KeyStore(
        settings.keys_dir, generate=settings.generate_keys, reload_seconds=settings.key_reload_seconds
    )
    app.state.hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        concurrency=settings.hash_concurrency,
    )
    window = timedelta(seconds=settings.login_failure_window_seconds)
    lockout = timedelta(seconds=settings.login_lockout_seconds)
    app.state.throttle = LoginThrottle(
        per_email=Limit(settings.login_failures_per_email, window, lockout),
        per_client=Limit(settings.login_failures_per_client, window, lockout),
    )
    signup_window = timedelta(seconds=settings.signup_window_seconds)
    app.state.signup_throttle = SignupThrottle(
        Limit(settings.signups_per_client, signup_window, signup_window)
    )
    database = Database(
        settings.mysql_url.get_secret_value(),
        pool_size=settings.mysql_pool_size,
        connect_timeout=settings.mysql_connect_timeout_seconds,
        query_timeout=settings.mysql_query_timeout_seconds,
        prepare=migrations.migrate,
    )
    app.state.database = database
    try:
        await run_in_threadpool(database.check)  # migrates the schema
        log.info(kv(event="auth.started", database=database.name, schema_version=migrations.LATEST))
    except DatabaseUnavailable as exc:
        # Serve anyway: /readyz says why, and the schema is migrated once MySQL answers.
        log.warning(kv(event="auth.started_without_mysql", database=database.name, error=exc))
    yield
    database.close()


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning(kv(event="mysql.unavailable", path=request.url.path, error=exc))
    return JSONResponse(
        {"detail": UNAVAILABLE_DETAIL},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, without the echo of the submitted values (passwords must not come back)."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
