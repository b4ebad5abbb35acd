"""The chart's optional autoscaling and monitoring objects, as a real API server takes them: the
HorizontalPodAutoscalers of the gateway, auth and notification (off by default), and the
ServiceMonitor, checked against a stand-in for the Prometheus Operator's CRD (the devstack runs no
Prometheus Operator; the stand-in accepts any spec, so the test checks what the spec selects)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from devstack.kube import ApiError, Kube
from devstack.process import wait_until
from tests.support.chart_harness import VALUES_SETS, KubectlRefused, helm_template, kubectl_apply

pytestmark = pytest.mark.devstack

SCALED = ("gateway", "auth", "notification")
SERVICEMONITOR_CRD = "servicemonitors.monitoring.coreos.com"
WITH_SERVICEMONITOR = ("--set", "metrics.serviceMonitor.enabled=true")
API_VERSIONS = ("--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")


def test_autoscaling_is_off_by_default(helm: str, namespace: str) -> None:
    rendered = helm_template(helm, namespace)

    assert rendered.kinds("HorizontalPodAutoscaler") == []
    for component in SCALED:
        assert "replicas" in rendered.named("Deployment", f"mp4mp3-{component}")["spec"]


def test_hpas_scale_the_three_deployments_on_cpu_and_the_api_server_takes_them(
    helm: str, kubectl: list[str], namespace: str
) -> None:
    rendered = helm_template(helm, namespace, *VALUES_SETS["monitoring"])

    hpas = {h["metadata"]["name"]: h["spec"] for h in rendered.kinds("HorizontalPodAutoscaler")}
    assert set(hpas) == {f"mp4mp3-{c}" for c in SCALED}
    gateway = hpas["mp4mp3-gateway"]
    assert gateway["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "mp4mp3-gateway",
    }
    assert (gateway["minReplicas"], gateway["maxReplicas"]) == (2, 5)
    [cpu] = gateway["metrics"]
    assert cpu["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
    assert gateway["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 300}}  # Kubernetes' own
    assert hpas["mp4mp3-notification"]["maxReplicas"] == 3
    for component in SCALED:  # the autoscaler owns the count: a helm upgrade must not reset it
        deployment = rendered.named("Deployment", f"mp4mp3-{component}")
        assert "replicas" not in deployment["spec"]
        assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    objects = [*rendered.kinds("HorizontalPodAutoscaler"), *rendered.kinds("Deployment")]
    out = kubectl_apply(kubectl, namespace, objects, "--dry-run=server", "--validate=strict")
    assert out.count("horizontalpodautoscaler.autoscaling/") == 3


def test_min_replicas_above_max_fails_the_render_with_a_sentence(helm: str, namespace: str) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        helm_template(
            helm, namespace, "--set", "auth.autoscaling.enabled=true,auth.autoscaling.minReplicas=9"
        )
    assert "auth.autoscaling.minReplicas (9) exceeds maxReplicas (4)" in failed.value.stderr


def test_a_servicemonitor_without_the_prometheus_operator_fails_with_a_sentence(
    helm: str, namespace: str
) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        helm_template(helm, namespace, *WITH_SERVICEMONITOR)
    assert "needs the Prometheus Operator's ServiceMonitor CRD" in failed.value.stderr


@pytest.fixture
def servicemonitor_crd_played(admin: Kube, kubectl: list[str]) -> Iterator[None]:
    """A stand-in ServiceMonitor CRD (monitoring.coreos.com/v1, any spec), removed after the test."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": SERVICEMONITOR_CRD},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"plural": "servicemonitors", "singular": "servicemonitor", "kind": "ServiceMonitor"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    subprocess.run(
        [*kubectl, "apply", "-f", "-"], input=json.dumps(crd), check=True, capture_output=True, text=True
    )
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{SERVICEMONITOR_CRD}"

    def established() -> bool:
        conditions = (admin.get(path).get("status") or {}).get("conditions") or []  # null at first
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_until(established, 30, "the stand-in ServiceMonitor CRD established")
    yield
    try:
        admin.delete(path)
    except ApiError as exc:
        if exc.status != 404:
            raise


def test_the_servicemonitor_scrapes_the_gateway_operator_and_notification_crd_played(
    helm: str, kubectl: list[str], namespace: str, servicemonitor_crd_played: None
) -> None:
    rendered = helm_template(helm, namespace, *WITH_SERVICEMONITOR, *API_VERSIONS)

    [monitor] = rendered.kinds("ServiceMonitor")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    selected = {
        s["metadata"]["name"]: s
        for s in rendered.kinds("Service")
        if wanted.items() <= s["metadata"]["labels"].items()
    }
    assert set(selected) == {"mp4mp3-gateway", "mp4mp3-operator-metrics", "mp4mp3-notification-metrics"}
    endpoints = {e["port"]: e["path"] for e in monitor["spec"]["endpoints"]}
    for name, service in selected.items():
        ports = {p["name"]: p for p in service["spec"]["ports"]}
        scraped = set(ports) & set(endpoints)
        assert len(scraped) == 1, name  # each Service is scraped on exactly one of its ports
    assert {p["port"] for p in selected["mp4mp3-operator-metrics"]["spec"]["ports"]} == {9101}
    assert {p["port"] for p in selected["mp4mp3-notification-metrics"]["spec"]["ports"]} == {9102}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
    try:
        kubectl_apply(
            kubectl, namespace, [monitor, *selected.values()], "--dry-run=server", "--validate=strict"
        )
    except KubectlRefused as exc:
        pytest.fail(f"the API server refused the ServiceMonitor or a metrics Service: {exc}")


def test_metrics_ports_are_the_ones_the_containers_serve(helm: str, namespace: str) -> None:
    rendered = helm_template(helm, namespace, "--set", "operator.metrics.port=9300")

    operator = rendered.named("Deployment", "mp4mp3-operator")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9300, "protocol": "TCP"} in operator["ports"]
    assert rendered.named("ConfigMap", "mp4mp3-operator")["data"]["OPERATOR_METRICS_PORT"] == "9300"
    notification = rendered.named("Deployment", "mp4mp3-notification")["spec"]["template"]["spec"]
    assert {"name": "metrics", "containerPort": 9102, "protocol": "TCP"} in notification["containers"][0][
        "ports"
    ]
    assert rendered.named("ConfigMap", "mp4mp3-notification")["data"]["NOTIFY_METRICS_PORT"] == "9102"
