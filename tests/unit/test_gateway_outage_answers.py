"""What the gateway answers while a server it needs is down: a 503 a client knows to retry."""

from __future__ import annotations

import pymongo.errors
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.support.gateway_harness import gateway_settings


def test_mongodb_unreachable_is_a_503_with_retry_after() -> None:
    app = create_app(gateway_settings(metrics_enabled=False))

    @app.get("/down")
    async def down() -> None:
        raise pymongo.errors.ServerSelectionTimeoutError("ferretdb:25017: connection refused")

    resp = TestClient(app).get("/down")  # no lifespan: nothing connects

    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    assert "database" in resp.json()["detail"]


def test_mongodb_failing_for_its_storage_is_a_503_with_retry_after() -> None:
    # FerretDB whose PostgreSQL is down answers every command with InternalError (code 1)
    app = create_app(gateway_settings(metrics_enabled=False))

    @app.get("/storage-down")
    async def storage_down() -> None:
        raise pymongo.errors.OperationFailure("failed to connect to `user=postgres database=ferretdb`", 1)

    resp = TestClient(app).get("/storage-down")

    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"


def test_a_command_mongodb_refuses_is_still_a_500() -> None:
    app = create_app(gateway_settings(metrics_enabled=False))

    @app.get("/bad-query")
    async def bad_query() -> None:
        raise pymongo.errors.OperationFailure("unknown operator: $nope", 2)  # BadValue: our bug

    resp = TestClient(app, raise_server_exceptions=False).get("/bad-query")

    assert resp.status_code == 500
