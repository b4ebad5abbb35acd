"""MySQL outages: a clear 503 while MariaDB is down, and service again as soon as it is back,
without restarting auth. Runs against a throwaway MariaDB (never the shared one)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from auth.settings import Settings
from devstack.config import ROOT, Config, Ports
from devstack.process import StartError
from devstack.servers.mariadb import MariaDB
from devstack.stack import Stack

pytestmark = pytest.mark.devstack

PORT_OFFSETS = range(300, 310)  # this suite's own range
PASSWORD = "correct horse battery staple"
UNAVAILABLE = {"detail": "The user database is unavailable right now; please try again in a few seconds."}


@pytest.fixture
def throwaway_mariadb(devstack: Stack) -> Iterator[MariaDB]:
    server = _start_throwaway_mariadb()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.cfg.state, ignore_errors=True)


def _start_throwaway_mariadb() -> MariaDB:
    """A MariaDB of our own on the first offset of our range whose port is free. The devstack's
    ports lie in Linux's ephemeral range, so any client's outgoing connection may hold one."""
    failures = []
    for offset in PORT_OFFSETS:
        state = ROOT / ".devstack" / "scratch" / uuid.uuid4().hex  # the mysql user cannot enter pytest's tmp
        server = MariaDB(Config(state=state, cache=Config.from_env().cache, ports=Ports(offset=offset)))
        try:
            server.start()
            return server
        except StartError as exc:
            server.stop()
            shutil.rmtree(state, ignore_errors=True)
            if "Address already in use" not in str(exc):
                raise
            failures.append(f"port {server.cfg.ports.mysql} in use")
    raise RuntimeError(f"no free port for a throwaway MariaDB: {', '.join(failures)}")


@pytest.fixture
def outage_settings(throwaway_mariadb: MariaDB, keys_dir: Path) -> Settings:
    return Settings(
        mysql_url=throwaway_mariadb.env()["MYSQL_URL"],  # type: ignore[arg-type]
        keys_dir=keys_dir,
        mysql_connect_timeout_seconds=2,
    )


def _signup(client: TestClient, email: str) -> int:
    return client.post("/signup", json={"email": email, "password": PASSWORD}).status_code


def _login(client: TestClient, email: str) -> int:
    return client.post("/login", json={"email": email, "password": PASSWORD}).status_code


def test_mysql_down_gives_503_with_a_clear_body_and_the_next_request_after_it_returns_works(
    throwaway_mariadb: MariaDB, outage_settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(outage_settings)
    email = f"outage-{uuid.uuid4().hex[:6]}@example.com"
    assert _signup(client, email) == 201
    token = client.post("/login", json={"email": email, "password": PASSWORD}).json()["access_token"]

    throwaway_mariadb.stop()

    for resp in (
        client.post("/login", json={"email": email, "password": PASSWORD}),
        client.post("/signup", json={"email": f"x{email}", "password": PASSWORD}),
        client.post("/login", auth=(email, PASSWORD)),
    ):
        assert resp.status_code == 503
        assert resp.json() == UNAVAILABLE
        assert resp.headers["retry-after"] == "5"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["mysql"].startswith("unreachable")
    # what needs no database keeps working: liveness, the JWKS, validating issued tokens
    assert client.get("/healthz").status_code == 200
    assert client.get("/.well-known/jwks.json").status_code == 200
    assert client.post("/validate", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    throwaway_mariadb.start()  # returns once MariaDB accepts connections

    assert _login(client, email) == 200  # the very next request: no restart, no retry
    assert client.get("/readyz").status_code == 200


def test_auth_started_while_mysql_is_down_migrates_and_serves_once_it_is_up(
    throwaway_mariadb: MariaDB, outage_settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    throwaway_mariadb.stop()

    client = make_client(outage_settings)  # starts anyway: Kubernetes would otherwise crash-loop it

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert (
        client.post("/signup", json={"email": "early@example.com", "password": PASSWORD}).json()
        == UNAVAILABLE
    )

    throwaway_mariadb.start()

    assert client.get("/readyz").status_code == 200
    assert _signup(client, "early@example.com") == 201
    assert _login(client, "early@example.com") == 200
