"""Fixtures for the Helm chart's tests: the devstack's helm, and a throwaway namespace on the
devstack's real API server to check what the chart renders."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devstack.kube import Kube
from devstack.stack import NODE, Stack

# The chart is judged by the API server alone: none of our services needs to run for it.
NEEDED = ["etcd", "kube-apiserver", "kube-controller-manager", *NODE]


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to Kubernetes: a half-written service cannot fail the chart's tests.
    Stops only what it started (unless MP4MP3_KEEP_DEVSTACK)."""
    stack = Stack()
    was_up = all(server.running() for server in stack.select(NEEDED))
    stack.up(NEEDED)
    yield stack
    if not was_up and not os.environ.get("MP4MP3_KEEP_DEVSTACK"):
        stack.down(NEEDED)


@pytest.fixture(scope="session")
def helm(devstack: Stack) -> str:
    return str(devstack.cfg.binaries["HELM_BIN"] / "helm")


@pytest.fixture(scope="session")
def admin(kube: Kube) -> Kube:
    """The devstack's admin client (tests/conftest.py's ``kube``), by the name these tests use."""
    return kube
