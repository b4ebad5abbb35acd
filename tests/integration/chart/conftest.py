"""Fixtures for the Helm chart's tests: the devstack's helm, and a throwaway namespace on the
devstack's real API server to check what the chart renders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.stack import NODE, Stack
from tests.support.stack import narrowed_devstack


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to Kubernetes: the chart is judged by the API server alone, none of our
    services needs to run for it."""
    yield from narrowed_devstack(["etcd", "kube-apiserver", "kube-controller-manager", *NODE])


@pytest.fixture(scope="session")
def helm(devstack: Stack) -> str:
    return str(devstack.cfg.binaries["HELM_BIN"] / "helm")
