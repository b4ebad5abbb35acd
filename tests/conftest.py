"""Shared fixtures: the devstack, started once per test session (or reused if already up), admin
access to its Kubernetes, and the tests' worlds (tests/support/world.py). A folder that needs only
part of the devstack overrides ``devstack`` (tests/support/stack.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devstack.kube import Kube
from devstack.process import wait_until
from devstack.servers.services import cluster_setup
from devstack.stack import Stack
from tests.support.world import Worlds


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
def admin(kube: Kube) -> Kube:
    """``kube`` by the name the integration tests use."""
    return kube


@pytest.fixture(scope="session")
def kubectl(devstack: Stack) -> list[str]:
    """argv prefix for kubectl against the devstack, as the admin."""
    binary = devstack.cfg.binaries["KUBERNETES_BIN"] / "kubectl"
    return [str(binary), f"--kubeconfig={devstack.cfg.kubeconfig}"]


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A Kubernetes namespace of this test's own, with its default ServiceAccount; deleted after."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    # pods need the default ServiceAccount, which the serviceaccount controller makes
    wait_until(lambda: kube.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"), 30, "default SA")
    yield name
    kube.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def worlds(devstack: Stack, kube: Kube, kubectl: list[str]) -> Iterator[Worlds]:
    """worlds.new(GatewayWorld | OperatorWorld | ...) -> a world of the test's own (namespace with a
    service's RBAC and token, database, vhost); all are removed at the end of the session."""
    cluster_setup(devstack.cfg, kubectl[0])  # the CRDs, idempotently (normally done by a service's start)
    made = Worlds(devstack, kube, kubectl)
    yield made
    made.close()
