"""Fixtures for the gateway's tests: a world of its own on the devstack's servers (a namespace
with the gateway's RBAC, a MongoDB database, a RabbitMQ vhost), real gateway processes in it,
and users signed up at the real auth service."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from devstack.servers.services import GATEWAY_SERVERS
from devstack.stack import Stack
from tests.support.gateway_harness import GatewayProcess, TestKeys
from tests.support.gateway_world import GatewayWorld, User, sign_up
from tests.support.stack import narrowed_devstack
from tests.support.world import Worlds


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to what the gateway needs."""
    yield from narrowed_devstack(GATEWAY_SERVERS)


@pytest.fixture(scope="session")
def world(worlds: Worlds, devstack: Stack) -> GatewayWorld:
    """The gateway's world, shared by the folder; no operator runs in it."""
    made = worlds.new(GatewayWorld)
    made.auth_url = devstack["auth"].env()["AUTH_URL"]  # a host service: not in env() without a node
    return made


@pytest.fixture(scope="session")
def start_gateway(
    world: GatewayWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., GatewayProcess]]:
    """start_gateway(GATEWAY_X="...", ready=True) -> a running gateway in the test world; all are
    stopped at the end of the session."""
    started: list[GatewayProcess] = []
    logs = tmp_path_factory.mktemp("gateway-logs")

    def start(ready: bool = True, **overrides: str) -> GatewayProcess:
        proc = GatewayProcess(world.env(**overrides), logs / f"gateway-{len(started)}.log")
        started.append(proc)
        return proc.start(ready=ready)

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def gateway(start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    """The gateway most tests use: default settings, real auth."""
    return start_gateway()


@pytest.fixture
def signup(world: GatewayWorld) -> Callable[[], User]:
    """signup() -> a new user of the real auth service, logged in."""

    def make() -> User:
        return sign_up(world.auth_url)

    return make


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def test_keys() -> Iterator[TestKeys]:
    keys = TestKeys()
    keys.add("key-1")
    yield keys
    keys.close()
