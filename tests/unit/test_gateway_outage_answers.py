"""What the gateway answers while a server it needs is down: a 503 a client knows to retry."""

from __future__ import annotations

from typing import Any

import pymongo.errors
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings

SETTINGS: dict[str, Any] = {
    "mongo_uri": "mongodb://h/db",
    "amqp_url": "amqp://h",
    "auth_url": "http://auth",
    "jwks_url": "http://auth/jwks",
    "jwt_issuer": "i",
    "jwt_audience": "a",
    "namespace": "n",
    "public_url": "http://gw",
    "metrics_enabled": False,
}


def test_mongodb_unreachable_is_a_503_with_retry_after() -> None:
    app = create_app(Settings(**SETTINGS))

    @app.get("/down")
    async def down() -> None:
        raise pymongo.errors.ServerSelectionTimeoutError("ferretdb:25017: connection refused")

    resp = TestClient(app).get("/down")  # no lifespan: nothing connects

    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    assert "database" in resp.json()["detail"]
