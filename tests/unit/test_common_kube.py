"""common.kube: where the API server is, and which of its answers are worth a retry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.kube import in_cluster_url, load_configuration, rejected, retry_later


@pytest.mark.parametrize(
    ("status", "retry"), [(None, True), (429, True), (500, True), (503, True), (409, False)]
)
def test_no_answer_throttling_and_server_errors_are_worth_a_retry(status: int | None, retry: bool) -> None:
    assert retry_later(status) is retry


@pytest.mark.parametrize(
    ("status", "give_up"), [(400, True), (404, True), (422, True), (403, False), (503, False)]
)
def test_a_refused_request_is_given_up(status: int, give_up: bool) -> None:
    assert rejected(status) is give_up


def test_a_pod_finds_the_api_server_from_its_environment_ipv6_too() -> None:
    assert in_cluster_url({}) is None
    assert in_cluster_url({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}) == (
        "https://10.0.0.1:443"
    )
    assert in_cluster_url({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}) == (
        "https://[fd00::1]:6443"
    )


def test_a_named_kubeconfig_is_used_outside_the_cluster(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:16443',"
        " insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t0k3n}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    config = load_configuration(str(kubeconfig))
    assert config.host == "https://127.0.0.1:16443" and config.verify_ssl is False
    assert config.get_api_key_with_prefix("BearerToken") == "Bearer t0k3n"


def test_the_converter_starts_without_the_kubernetes_client() -> None:
    probe = "import sys, converter_job.__main__; print(any(m.startswith('kubernetes') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"
