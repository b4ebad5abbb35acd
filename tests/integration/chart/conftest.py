"""Fixtures for the Helm chart's tests: the devstack's helm, and a throwaway namespace on the
devstack's real API server to check what the chart renders."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devstack.kube import ApiError, Kube
from devstack.process import wait_until as wait_for
from devstack.stack import Stack

# The chart is judged by the API server alone: none of our services needs to run for it.
NEEDED = ["etcd", "kube-apiserver", "kube-controller-manager", "node-agent"]


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
def admin(devstack: Stack) -> Iterator[Kube]:
    client = Kube.from_kubeconfig(devstack.cfg.kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="session")
def kubectl(devstack: Stack) -> list[str]:
    """argv prefix for kubectl as the devstack's admin."""
    return [
        str(devstack.cfg.binaries["KUBERNETES_BIN"] / "kubectl"),
        f"--kubeconfig={devstack.cfg.kubeconfig}",
    ]


@pytest.fixture
def namespace(admin: Kube) -> Iterator[str]:
    """A namespace of this test's own, with its default ServiceAccount; deleted afterwards."""
    name = f"chart-{uuid.uuid4().hex[:8]}"
    admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for(lambda: _exists(admin, f"/api/v1/namespaces/{name}/serviceaccounts/default"), 30, "default SA")
    yield name
    admin.delete(f"/api/v1/namespaces/{name}")


def _exists(kube: Kube, path: str) -> bool:
    try:
        kube.get(path)
        return True
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
