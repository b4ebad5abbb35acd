"""The chart's HorizontalPodAutoscaler on the devstack's real node: metrics-server scrapes the kubelet,
the HPA controller reads metrics.k8s.io, and load on the gateway's public API adds gateway pods,
which go again once the load stops (Kubernetes "manages scaling", as the brief promised)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from devstack.kube import Kube
from devstack.process import wait_until
from devstack.servers.release import NAMESPACE
from tests.support.e2e_harness import User

# serial: it upgrades the release (an HPA for the gateway) and loads the gateway's CPU
pytestmark = [pytest.mark.devstack, pytest.mark.e2e, pytest.mark.serial]

ChartSettings = Callable[..., AbstractContextManager[None]]
HPA = f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers/mp4mp3-gateway"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/mp4mp3-gateway"
TARGET = 50  # percent of the gateway's CPU request (100m): 50m, a trickle of requests exceeds it
MAX_REPLICAS = 3
CLIENTS = 6  # threads asking GET /jobs as fast as they are answered
SCALE_UP_LIMIT = 240.0  # seconds: "within a few minutes"
SCALE_DOWN_LIMIT = 240.0
STABILIZATION = 10  # seconds of low load before it scales down (the chart's default is 300)


def cpu_utilization(hpa: dict[str, Any]) -> int | None:
    """The gateway's average CPU in percent of its request, as the HPA last read it."""
    for metric in hpa.get("status", {}).get("currentMetrics") or []:
        current = (metric.get("resource") or {}).get("current") or {}
        if metric.get("type") == "Resource" and "averageUtilization" in current:
            return int(current["averageUtilization"])
    return None


def ready_replicas(kube: Kube) -> int:
    return int(kube.get(DEPLOYMENT).get("status", {}).get("readyReplicas") or 0)


def test_load_on_the_gateway_adds_pods_and_they_go_when_it_stops(
    chart_settings: ChartSettings, kube: Kube, urls: dict[str, str], record_property: Any
) -> None:
    settings = [
        "gateway.autoscaling.enabled=true",
        "gateway.autoscaling.minReplicas=1",
        f"gateway.autoscaling.maxReplicas={MAX_REPLICAS}",
        f"gateway.autoscaling.targetCPUUtilizationPercentage={TARGET}",
        f"gateway.autoscaling.scaleDownStabilizationSeconds={STABILIZATION}",
    ]
    with httpx.Client(timeout=30) as http, chart_settings(*settings):
        user = User(http, urls["auth"])
        # metrics-server has scraped the gateway's pod and the HPA read it: the pipeline works
        wait_until(lambda: cpu_utilization(kube.get(HPA)) is not None, 120, "the HPA's first CPU reading")
        idle = cpu_utilization(kube.get(HPA))
        assert kube.get(HPA)["status"].get("desiredReplicas") == 1, kube.get(HPA)["status"]
        assert ready_replicas(kube) == 1

        stop = threading.Event()
        answered: list[int] = []

        def ask() -> None:
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    try:
                        answered.append(
                            client.get(f"{urls['gateway']}/jobs?limit=5", headers=user.headers).status_code
                        )
                    except httpx.HTTPError:
                        answered.append(0)

        clients = [threading.Thread(target=ask, daemon=True) for _ in range(CLIENTS)]
        loaded = time.monotonic()
        for thread in clients:
            thread.start()
        try:
            wait_until(lambda: ready_replicas(kube) > 1, SCALE_UP_LIMIT, "a second gateway pod, ready")
            scaled_up = time.monotonic() - loaded
            busy = cpu_utilization(kube.get(HPA))
            asked = int(kube.get(DEPLOYMENT)["spec"]["replicas"])
        finally:
            stop.set()
            for thread in clients:
                thread.join(timeout=30)
        calm = time.monotonic()
        wait_until(
            lambda: kube.get(DEPLOYMENT)["spec"].get("replicas") == 1 and ready_replicas(kube) == 1,
            SCALE_DOWN_LIMIT,
            "the gateway back to one pod",
        )
        scaled_down = time.monotonic() - calm

    print(
        f"\nHPA: idle {idle}% -> {busy}% of the CPU request under {CLIENTS} clients; 1 -> 2 pods in "
        f"{scaled_up:.0f} s ({asked} asked for by then); back to 1 in {scaled_down:.0f} s after the load "
        f"(stabilization {STABILIZATION} s); {len(answered)} requests, "
        f"{sum(1 for s in answered if s == 200)} answered 200"
    )
    for name, value in [("scale_up_s", scaled_up), ("scale_down_s", scaled_down), ("replicas_asked", asked)]:
        record_property(name, round(value, 1))
    assert 2 <= asked <= MAX_REPLICAS
    assert answered.count(200) >= 0.99 * len(answered), "requests failed while pods came and went"
