"""Fixtures for the metrics tests: the devstack without a node (the tests play the converter), and
worlds of their own for the gateway and the operator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.servers.services import GATEWAY_SERVERS
from devstack.stack import Stack
from tests.support.stack import narrowed_devstack


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    yield from narrowed_devstack(GATEWAY_SERVERS)
