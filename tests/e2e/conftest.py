"""Fixtures of the end-to-end tests: the chart-installed system of the devstack (`make up`), its
public URLs, the release to change a setting for a while (and jobs failed while the converter's
memory limit was too small), and the converter pods' start latency."""

from __future__ import annotations

import contextlib
import json
import statistics
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from conversion_operator.times import parse_time
from devstack.kube import Kube
from devstack.process import wait_until
from devstack.samples import sample_video
from devstack.servers.release import NAMESPACE, Release
from devstack.stack import Stack
from tests.support.e2e_harness import Ended, User, upload, wait_until_done

OPERATOR_PODS = "app.kubernetes.io/component=operator"
CONVERTER_PODS = "app.kubernetes.io/component=converter"
OOM_LIMIT = "32Mi"  # the converter's Python cannot even import its libraries in this


@pytest.fixture(scope="session")
def urls(devstack: Stack) -> dict[str, str]:
    env = devstack.env()
    return {"gateway": env["GATEWAY_URL"], "auth": env["AUTH_URL"], "mail": env["MAIL_DIR"]}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def release(devstack: Stack) -> Release:
    server = devstack["mp4mp3"]
    assert isinstance(server, Release)
    return server


@pytest.fixture(scope="session")
def chart_settings(release: Release, kube: Kube) -> Callable[..., contextlib.AbstractContextManager[None]]:
    """chart_settings("operator.converter.x=y", ...): the release upgraded with these settings, and
    back to the devstack's values after, each time with one operator pod left (the others gone)."""

    @contextlib.contextmanager
    def settings(*assignments: str) -> Iterator[None]:
        overrides = [arg for a in assignments for arg in ("--set", a)]
        release.install(*overrides)
        one_operator(kube)
        try:
            yield
        finally:
            release.install()
            one_operator(kube)

    return settings


@pytest.fixture(scope="session")
def out_of_memory(
    urls: dict[str, str], chart_settings: Callable[..., contextlib.AbstractContextManager[None]]
) -> dict[str, Ended]:
    """Jobs of two users uploaded while the converter's memory limit is far too small, each ended
    (one release upgrade and back, shared by the tests that need such a failure): "mailed" (a 5 s
    video, test_cluster.py) and "retried" (3 s, test_retry.py). The limit is back afterwards."""
    limit = f"operator.converter.resources.limits.memory={OOM_LIMIT}"
    request = f"operator.converter.resources.requests.memory={OOM_LIMIT}"
    # one attempt: a retry would be killed the same way, after the Job's back-off (10 s, then 20 s);
    # retries until the backoffLimit are test_operator_failure_paths.py's
    once = "operator.converter.backoffLimit=0"
    with httpx.Client(timeout=120) as http, chart_settings(limit, request, once):
        started = {}
        for purpose, seconds in (("mailed", 5), ("retried", 3)):
            user = User(http, urls["auth"])
            started[purpose] = (user, upload(http, urls["gateway"], user, sample_video(seconds=seconds)))
        return {
            purpose: Ended(user, job_id, wait_until_done(http, urls["gateway"], user, job_id, timeout=240))
            for purpose, (user, job_id) in started.items()
        }


def one_operator(kube: Kube) -> None:
    """After a rollout: only the new operator pod, so no old one with old settings acts."""
    path = f"/api/v1/namespaces/{NAMESPACE}/pods"

    def settled() -> bool:
        pods = kube.get(path, labelSelector=OPERATOR_PODS)["items"]
        return len(pods) == 1 and not pods[0]["metadata"].get("deletionTimestamp")

    wait_until(settled, 120, "one operator pod after the rollout")


@pytest.fixture(scope="session", autouse=True)
def converter_pod_start_latency(
    request: pytest.FixtureRequest, devstack: Stack, kube: Kube
) -> Iterator[None]:
    """At the end: created -> running of the converter pods on the node (p50/p95), written to
    .devstack/e2e-pod-start.json and shown in the summary, for the notes."""
    yield
    pods = kube.get("/api/v1/pods", labelSelector=CONVERTER_PODS)["items"]
    latencies = start_latencies(pods)
    if not latencies:
        return
    result = summary(latencies)
    (devstack.cfg.state / "e2e-pod-start.json").write_text(json.dumps(result, indent=2) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            reporter.write_line(
                f"converter pods, created -> running: p50 {result['p50']:.1f} s, p95 {result['p95']:.1f} s "
                f"over {result['pods']} pods"
            )


def start_latencies(pods: list[dict[str, Any]]) -> list[float]:
    """Seconds from a pod's creation to its container's start (running or since ended)."""
    out = []
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            state = container.get("state") or {}
            started = (state.get("running") or state.get("terminated") or {}).get("startedAt")
            if started:
                created = parse_time(pod["metadata"]["creationTimestamp"])
                out.append((parse_time(started) - created).total_seconds())
    return out


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"pods": len(ordered), "p50": statistics.median(ordered), "p95": p95, "max": ordered[-1]}
