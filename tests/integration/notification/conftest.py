"""Fixtures for the notification consumer's tests (helpers live in notification_harness.py)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pymongo
import pytest

from devstack.config import Config
from devstack.servers.rabbitmq import RabbitMQ
from devstack.servers.smtp import MailServer
from devstack.stack import Stack
from tests.support.notification_harness import RABBITMQ_OFFSET, SMTP_OFFSET, Notifier, scratch_config
from tests.support.stack import narrowed_devstack


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to the servers the consumer needs."""
    yield from narrowed_devstack(["rabbitmq", "ferretdb", "smtp"])


@pytest.fixture
def data_env(devstack: Stack) -> dict[str, str]:
    return devstack.data_env()


@pytest.fixture
def mail_dir(data_env: dict[str, str]) -> Path:
    return Path(data_env["MAIL_DIR"])


@pytest.fixture
def start_notifier(data_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Notifier]]:
    """start_notifier(amqp_url=..., smtp_port=..., NOTIFY_X="...") -> a running consumer; all are
    stopped, and their queues, exchange and sent-records removed, at the end of the test."""
    started: list[Notifier] = []

    def start(amqp_url: str | None = None, smtp_port: int | None = None, **overrides: str) -> Notifier:
        notifier = Notifier(
            amqp_url=amqp_url or data_env["AMQP_URL"],
            mongo_uri=data_env["MONGO_URI"],
            smtp_host=data_env["SMTP_HOST"],
            smtp_port=smtp_port or int(data_env["SMTP_PORT"]),
            log_path=tmp_path / f"notification-{len(started)}.log",
            overrides=overrides,
        )
        started.append(notifier)
        return notifier.start()

    yield start
    for notifier in started:
        notifier.stop()
        notifier.cleanup_broker()
        client: pymongo.MongoClient = pymongo.MongoClient(
            data_env["MONGO_URI"], serverSelectionTimeoutMS=5000
        )
        with contextlib.suppress(pymongo.errors.PyMongoError):
            client.get_default_database().drop_collection(notifier.collection)
        client.close()


@pytest.fixture
def scratch() -> Iterator[Callable[[int], Config]]:
    """Config factory for throwaway servers; their folders are removed at the end (stop them first)."""
    made: list[Config] = []

    def make(offset: int) -> Config:
        cfg = scratch_config(offset)
        made.append(cfg)
        return cfg

    yield make
    for cfg in made:
        shutil.rmtree(cfg.state, ignore_errors=True)


@pytest.fixture
def own_smtp(scratch: Callable[[int], Config]) -> Iterator[MailServer]:
    """A throwaway SMTP server (its own port and mail folder) that a test may stop and start."""
    server = MailServer(scratch(SMTP_OFFSET))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_rabbitmq(scratch: Callable[[int], Config]) -> Iterator[RabbitMQ]:
    """A throwaway RabbitMQ (own ports, epmd and data) that a test may restart; never the shared one."""
    server = RabbitMQ(scratch(RABBITMQ_OFFSET))
    server.start()
    yield server
    server.stop()
    # RabbitMQ's epmd and server share one pid.json in the devstack, so stop() misses epmd: ask the
    # epmd on this throwaway's own port (no other server uses it) to exit.
    subprocess.run(["epmd", "-port", str(server.cfg.ports.epmd), "-kill"], capture_output=True, check=False)
