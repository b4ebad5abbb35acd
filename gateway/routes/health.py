"""Liveness and readiness.

/readyz answers 200 while uploads can be accepted: MongoDB must answer, and at least one of
Kubernetes and RabbitMQ (either carries a request to the operator); with one of them down it says
``degraded``. 503 otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Response, status

from gateway.deps import ConversionJobsDep, DbDep, IndexesDep, PublisherDep
from gateway.schemas import Check, Health, Readiness

router = APIRouter(tags=["health"])

CHECK_TIMEOUT = 3.0


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    response_model_exclude_none=True,
    summary="Can uploads be accepted now? Checks MongoDB, RabbitMQ and the Kubernetes API",
    responses={503: {"model": Readiness, "description": "Uploads cannot be accepted now"}},
)
async def readyz(
    db: DbDep, publisher: PublisherDep, kube: ConversionJobsDep, indexes: IndexesDep, response: Response
) -> Readiness:
    probes: dict[str, Callable[[], Awaitable[object]]] = {
        "mongo": lambda: anyio.to_thread.run_sync(db.command, "ping"),
        "rabbitmq": lambda: anyio.to_thread.run_sync(publisher.ping),
        "kubernetes": kube.ping,
    }
    checks: dict[str, Check] = {}

    async def run(name: str, probe: Callable[[], Awaitable[object]]) -> None:
        started = time.monotonic()
        error: str | None = None
        try:
            with anyio.fail_after(CHECK_TIMEOUT):
                await probe()
        except TimeoutError:
            error = f"no answer within {CHECK_TIMEOUT:g} s"
        except Exception as exc:  # any failure of a dependency is reported, not raised
            error = f"{type(exc).__name__}: {exc}"[:300]
        checks[name] = Check(ok=error is None, ms=round((time.monotonic() - started) * 1000, 1), error=error)

    async with anyio.create_task_group() as group:
        for name, probe in probes.items():
            group.start_soon(run, name, probe)
    if checks["mongo"].ok:
        await indexes.ensure()
    state: Literal["ready", "degraded", "unready"]
    carriers = [checks["kubernetes"].ok, checks["rabbitmq"].ok]
    if not checks["mongo"].ok or not any(carriers):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        state = "unready"
    else:
        state = "ready" if all(carriers) else "degraded"
    return Readiness(status=state, checks=dict(sorted(checks.items())))
