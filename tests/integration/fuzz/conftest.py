"""Fixtures for the fuzz tests: the gateway's world (the gateway folder's fixtures), a real
gateway process that believes X-Forwarded-For from this host, and the devstack's real auth."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.gateway.conftest import devstack, start_gateway, world
from tests.support.gateway_harness import GatewayProcess

__all__ = ["devstack", "start_gateway", "world"]


@pytest.fixture(scope="session")
def gateway(start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    """The fuzzed gateway: it passes the fuzz client's forwarded address on to auth, so the failed
    logins it sends throttle that address, not this host's other tests (auth on the devstack
    believes loopback proxies too)."""
    return start_gateway(GATEWAY_TRUSTED_PROXIES="127.0.0.1")
