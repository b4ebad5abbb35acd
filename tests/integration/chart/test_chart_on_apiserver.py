"""The chart's objects are what a real Kubernetes API server accepts: every object `helm template`
renders, with the default, the bundled and the external values, passes `kubectl apply
--dry-run=server` (schema, strict field validation, admission), after the chart's CRDs."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from typing import Any, cast

import kopf
import pytest
from chart_harness import VALUES_SETS, KubectlRefused, helm_template, kubectl_apply, wait_for

from common.resources import API_VERSION, KIND, OWNER_LABEL
from devstack.kube import Kube

pytestmark = pytest.mark.devstack


def test_the_charts_crds_are_established(helm: str, kubectl: list[str], admin: Kube) -> None:
    crds = [
        d
        for d in helm_template(helm, "default", "--include-crds").docs
        if d["kind"] == "CustomResourceDefinition"
    ]
    assert {c["metadata"]["name"] for c in crds} >= {"conversionjobs.mp4mp3.io", "kopfpeerings.kopf.dev"}

    # the same files the devstack applies (crds/ is the chart's crds/), so this changes nothing
    subprocess.run(
        [*kubectl, "apply", "-f", "-"],
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": crds}),
        check=True,
        capture_output=True,
        text=True,
    )

    def established(name: str) -> bool:
        conditions = admin.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")["status"]
        return any(
            c["type"] == "Established" and c["status"] == "True" for c in conditions.get("conditions", [])
        )

    for crd in crds:
        wait_for(
            lambda name=crd["metadata"]["name"]: established(name),
            30,
            f"{crd['metadata']['name']} established",
        )


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_every_rendered_object_passes_a_server_side_dry_run(
    values: str, helm: str, kubectl: list[str], namespace: str
) -> None:
    rendered = helm_template(helm, namespace, *VALUES_SETS[values])
    assert len(rendered.docs) > 15

    out = kubectl_apply(kubectl, namespace, rendered.docs, "--dry-run=server", "--validate=strict")

    accepted = re.findall(r"^(\S+) (?:created|configured|unchanged) \(server dry run\)$", out, re.MULTILINE)
    expected = {f"{d['kind']}/{d['metadata']['name']}".lower() for d in rendered.docs}
    assert {_kind_name(a) for a in accepted} == expected


def test_a_typo_in_an_object_would_be_refused(helm: str, kubectl: list[str], namespace: str) -> None:
    # The dry run is a real check: an unknown field in a rendered object fails it.
    deployment = helm_template(helm, namespace).named("Deployment", "mp4mp3-gateway")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"tcpSocket": {"port": 8080}}

    with pytest.raises(KubectlRefused, match="readinesProbe"):
        kubectl_apply(kubectl, namespace, [deployment], "--dry-run=server", "--validate=strict")


def test_the_job_the_operator_builds_from_the_charts_settings_is_accepted(
    helm: str, kubectl: list[str], namespace: str, admin: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conversion_operator import jobs
    from conversion_operator.settings import Settings

    rendered = helm_template(helm, namespace, *VALUES_SETS["bundled"])
    for key, value in rendered.named("ConfigMap", "mp4mp3-operator")["data"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("OPERATOR_MONGO_URI", "mongodb://unused:27017/mp4mp3")
    monkeypatch.setenv("OPERATOR_AMQP_URL", "amqp://unused")
    settings = Settings()  # type: ignore[call-arg]
    cr = admin.create(
        f"/apis/{API_VERSION}/namespaces/{namespace}/conversionjobs",
        _conversion_job(f"cj-{uuid.uuid4().hex[:24]}"),
    )

    job = jobs.job(kopf.Body(cast(kopf.RawBody, cr)), settings)
    kubectl_apply(kubectl, namespace, [job], "--dry-run=server", "--validate=strict")

    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "mp4mp3-converter"  # the chart's shared converter identity
    mongo = next(e for e in pod["containers"][0]["env"] if e["name"] == "CONVERTER_MONGO_URI")
    ref = mongo["valueFrom"]["secretKeyRef"]
    assert ref["key"] in rendered.named("Secret", ref["name"])["data"]  # a Secret the chart makes


def _conversion_job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "labels": {OWNER_LABEL: "42"}},
        "spec": {
            "source": {"videoId": name[3:], "filename": "talk.mp4", "size": 1000},
            "owner": {"userId": "42", "email": "someone@example.com"},
        },
    }


def _kind_name(line: str) -> str:
    """'deployment.apps/mp4mp3-gateway' -> 'deployment/mp4mp3-gateway' (kubectl names the group)."""
    kind_group, name = line.split("/", 1)
    return f"{kind_group.split('.', 1)[0]}/{name}"
