"""Fixtures for the webhook tests: the gateway's world (its database is where webhooks are stored),
a real gateway and a real notification consumer on it, users of the real auth service, and local
receivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.servers.services import GATEWAY_SERVERS
from devstack.stack import Stack
from tests.support.gateway_harness import GatewayProcess, free_port
from tests.support.gateway_world import GatewayWorld, User, sign_up
from tests.support.notification_harness import Notifier
from tests.support.stack import narrowed_devstack
from tests.support.webhook_harness import Receiver
from tests.support.world import Worlds

LOOPBACK_ALLOWED = "127.0.0.0/8"  # the receivers run on this machine, as on the devstack


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    yield from narrowed_devstack([*GATEWAY_SERVERS, "smtp"])


@pytest.fixture(scope="session")
def world(worlds: Worlds, devstack: Stack) -> GatewayWorld:
    made = worlds.new(GatewayWorld)
    made.auth_url = devstack["auth"].env()["AUTH_URL"]
    return made


@pytest.fixture(scope="session")
def gateway(world: GatewayWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = world.env(GATEWAY_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK_ALLOWED, GATEWAY_WEBHOOKS_PER_USER="3")
    proc = GatewayProcess(env, tmp_path_factory.mktemp("gateway-logs") / "gateway.log").start()
    yield proc
    proc.stop()


@pytest.fixture
def start_notifier(world: GatewayWorld, devstack: Stack, tmp_path: Path) -> Iterator[Callable[..., Notifier]]:
    """start_notifier(NOTIFY_X="...") -> a running consumer on the world's vhost and database;
    stopped and its queues removed at the end of the test."""
    started: list[Notifier] = []
    data = devstack.data_env()

    def start(**overrides: str) -> Notifier:
        notifier = Notifier(
            amqp_url=world.amqp_url,
            mongo_uri=world.mongo_uri,
            smtp_host=data["SMTP_HOST"],
            smtp_port=int(data["SMTP_PORT"]),
            log_path=tmp_path / f"notification-{len(started)}.log",
            overrides={"NOTIFY_WEBHOOK_ALLOWED_NETWORKS": LOOPBACK_ALLOWED, **overrides},
        )
        started.append(notifier)
        return notifier.start()

    yield start
    for notifier in started:
        notifier.stop()
        notifier.cleanup_broker()


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver().start()
    yield made
    made.stop()


@pytest.fixture
def signup(world: GatewayWorld) -> Callable[[], User]:
    def make() -> User:
        return sign_up(world.auth_url, "wh")

    return make


@pytest.fixture
def api(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        yield client
