"""Fixtures for the fuzz tests: the gateway's world and a real gateway process (the gateway
folder's fixtures), the devstack's real auth service, and a user signed up there."""

from __future__ import annotations

from tests.integration.gateway.conftest import devstack, gateway, start_gateway, world

__all__ = ["devstack", "gateway", "start_gateway", "world"]
