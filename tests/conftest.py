"""Shared fixtures: the devstack, started once per test session (or reused if already up)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devstack.kube import Kube
from devstack.stack import Stack


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The whole devstack, up. Stopped at the end only if this session started it
    (set MP4MP3_KEEP_DEVSTACK=1 to leave it running)."""
    stack = Stack()
    was_up = all(stack.status().values())
    stack.up()
    os.environ.update(stack.env())
    yield stack
    if not was_up and not os.environ.get("MP4MP3_KEEP_DEVSTACK"):
        stack.down()


@pytest.fixture(scope="session")
def kube(devstack: Stack) -> Iterator[Kube]:
    """An admin client for the devstack's API server."""
    client = Kube.from_kubeconfig(devstack.cfg.kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="session")
def kubectl(devstack: Stack) -> list[str]:
    """argv prefix for kubectl against the devstack, as the admin."""
    binary = devstack.cfg.binaries["KUBERNETES_BIN"] / "kubectl"
    return [str(binary), f"--kubeconfig={devstack.cfg.kubeconfig}"]
