"""The chart's `helm test` pods run scripts (charts/mp4mp3/files/tests/); here they run against the
devstack's real auth and gateway, so a passing `helm test` means what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from devstack.stack import Stack
from tests.support.chart_harness import CHART, helm_template

pytestmark = pytest.mark.devstack

SERVICES = [
    "mariadb",
    "rabbitmq",
    "ferretdb",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "auth",
    "gateway",
]


@pytest.fixture(scope="module")
def services(devstack: Stack) -> Iterator[dict[str, str]]:
    """AUTH_URL and GATEWAY_URL of the devstack's running auth and gateway; stops afterwards what
    it started (unless MP4MP3_KEEP_DEVSTACK)."""
    started = [name for name in SERVICES if not devstack[name].running()]
    devstack.up(SERVICES)
    yield devstack.env()
    if started and not os.environ.get("MP4MP3_KEEP_DEVSTACK"):
        devstack.down(started)


def run_test_pod_script(helm: str, pod: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a rendered test pod's container command locally, with the devstack's URL as argument."""
    test_pod = helm_template(helm, "default").named("Pod", pod)
    container = test_pod["spec"]["containers"][0]
    assert container["command"] == ["python", "-c"]
    script = container["args"][0]
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)


def test_the_auth_test_pod_passes_against_the_real_auth(helm: str, services: dict[str, str]) -> None:
    result = run_test_pod_script(helm, "mp4mp3-test-auth", services["AUTH_URL"])

    assert result.returncode == 0, result.stderr
    assert "RS256 key(s)" in result.stdout


def test_the_gateway_test_pod_passes_against_the_real_gateway(helm: str, services: dict[str, str]) -> None:
    result = run_test_pod_script(helm, "mp4mp3-test-gateway", services["GATEWAY_URL"])

    assert result.returncode == 0, result.stderr
    assert "gateway ready: 200" in result.stdout


def test_the_test_pods_fail_when_nothing_answers(helm: str) -> None:
    result = run_test_pod_script(helm, "mp4mp3-test-auth", "http://127.0.0.1:9", "2")  # refused; 2 s

    assert result.returncode != 0
    assert "not ready" in result.stderr


def test_the_test_pods_are_helm_test_hooks_on_by_default(helm: str) -> None:
    assert yaml.safe_load((CHART / "values.yaml").read_text())["tests"]["enabled"] is True
    pods = helm_template(helm, "default").kinds("Pod")

    assert {p["metadata"]["name"] for p in pods} == {"mp4mp3-test-auth", "mp4mp3-test-gateway"}
    assert {p["metadata"]["annotations"]["helm.sh/hook"] for p in pods} == {"test"}
