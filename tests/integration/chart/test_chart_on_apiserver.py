"""The chart's objects are what a real Kubernetes API server accepts: every object `helm template`
renders, with the default, the bundled and the external values, passes `kubectl apply
--dry-run=server` (schema, strict field validation, admission), after the chart's CRDs."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import uuid
from typing import Any, cast

import kopf
import pytest
import yaml

from common.resources import API_VERSION, KIND, OWNER_LABEL
from devstack.kube import Kube
from devstack.process import wait_until as wait_for
from devstack.stack import Stack
from tests.support.chart_harness import (
    CHART,
    RELEASE,
    VALUES_SETS,
    Docs,
    KubectlRefused,
    helm_template,
    kubectl_apply,
)

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
        name = crd["metadata"]["name"]
        wait_for(functools.partial(established, name), 30, f"{name} established")


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


def helm_install_dry_run(helm: str, kubeconfig: str, namespace: str, *args: str) -> tuple[Docs, str]:
    """(manifest objects, NOTES) of `helm install --dry-run=server`: rendered against the cluster,
    so `lookup` sees the Secrets already there, as on an upgrade."""
    argv = [
        helm,
        "install",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "--dry-run=server",
        "--kubeconfig",
        kubeconfig,
    ]
    proc = subprocess.run([*argv, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    manifest, _, notes = out.partition("\nMANIFEST:\n")[2].partition("\nNOTES:\n")
    return [d for d in yaml.safe_load_all(manifest) if d], notes


def test_generated_secrets_are_kept_once_they_exist(
    helm: str, devstack: Stack, kubectl: list[str], namespace: str
) -> None:
    kubeconfig = str(devstack.cfg.kubeconfig)
    first, _ = helm_install_dry_run(helm, kubeconfig, namespace)
    secrets = [d for d in first if d["kind"] == "Secret"]
    for secret in secrets:  # as the first install leaves them: owned by the release
        secret["metadata"]["annotations"] = {
            "meta.helm.sh/release-name": RELEASE,
            "meta.helm.sh/release-namespace": namespace,
        }
    kubectl_apply(kubectl, namespace, secrets)

    again, _ = helm_install_dry_run(helm, kubeconfig, namespace)

    assert {s["metadata"]["name"] for s in secrets} == {
        "mp4mp3-auth-jwt", "mp4mp3-mongodb", "mp4mp3-rabbitmq", "mp4mp3-mysql", "mp4mp3-download-links"
    }  # fmt: skip
    for secret in secrets:
        kept = next(
            d for d in again if d["kind"] == "Secret" and d["metadata"]["name"] == secret["metadata"]["name"]
        )
        assert kept["data"] == secret["data"], secret["metadata"]["name"]


def test_the_notes_tell_how_to_log_in_upload_and_watch(helm: str, devstack: Stack, namespace: str) -> None:
    _, notes = helm_install_dry_run(helm, str(devstack.cfg.kubeconfig), namespace)

    assert f"kubectl -n {namespace} port-forward svc/mp4mp3-gateway 8080:80" in notes
    assert '"$AUTH/signup"' in notes and '"$API/login"' in notes
    assert '-F file=@video.mp4 "$API/jobs"' in notes
    assert f"kubectl -n {namespace} get conversionjobs -w" in notes
    assert "cvj" in notes and "CronJob" in notes
