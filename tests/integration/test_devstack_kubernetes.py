"""The devstack's Kubernetes is real: Jobs run through the controller-manager and the node agent."""

from __future__ import annotations

import json
import subprocess
import textwrap
from typing import Any

import pytest

from devstack.kube import Kube
from devstack.process import wait_until as wait_for

pytestmark = pytest.mark.devstack


def job(name: str, code: str, backoff: int = 0, sa: str | None = None) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "ignored", "command": ["python", "-c", code]}],
    }
    if sa:
        pod_spec["serviceAccountName"] = sa
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": backoff, "template": {"spec": pod_spec}},
    }


def job_condition(kube: Kube, ns: str, name: str) -> str | None:
    status = kube.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}").get("status", {})
    for cond in status.get("conditions", []):
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return str(cond["type"])
    return None


def pods_of(kube: Kube, ns: str, job_name: str) -> list[dict[str, Any]]:
    path = f"/api/v1/namespaces/{ns}/pods"
    return list(kube.get(path, labelSelector=f"job-name={job_name}")["items"])


def test_kubectl_reports_a_real_server_and_a_ready_node(kubectl: list[str]) -> None:
    version = json.loads(
        subprocess.run([*kubectl, "version", "-o", "json"], check=True, capture_output=True, text=True).stdout
    )
    server = version["serverVersion"]
    assert server["major"] == "1" and int(server["minor"]) >= 34, server
    assert server["gitVersion"].startswith("v1.")
    nodes = json.loads(
        subprocess.run(
            [*kubectl, "get", "nodes", "-o", "json"], check=True, capture_output=True, text=True
        ).stdout
    )["items"]
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert ready["Ready"] == "True"


def test_rbac_decides_can_i(kubectl: list[str]) -> None:
    def can_i(*args: str) -> str:
        out = subprocess.run([*kubectl, "auth", "can-i", *args], capture_output=True, text=True)
        return out.stdout.strip()

    assert can_i("create", "pods") == "yes"  # the admin (system:masters)
    assert can_i("get", "secrets", "--as=system:serviceaccount:default:default") == "no"


def test_job_runs_to_completion_with_termination_message(kube: Kube, namespace: str) -> None:
    code = textwrap.dedent("""
        import os, pathlib
        pathlib.Path("/dev/termination-log").write_text("converted " + os.environ["HOSTNAME"])
    """)
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job("ok", code))
    assert wait_for(lambda: job_condition(kube, namespace, "ok"), 60, "job to finish") == "Complete"
    status = kube.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/ok")["status"]
    assert status["succeeded"] == 1
    (pod,) = pods_of(kube, namespace, "ok")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["message"] == f"converted {pod['metadata']['name']}"


def test_failing_pod_fails_the_job_after_its_backoff_limit(kube: Kube, namespace: str) -> None:
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job("bad", "raise SystemExit(3)", backoff=1))
    assert wait_for(lambda: job_condition(kube, namespace, "bad"), 90, "job to fail") == "Failed"
    pods = pods_of(kube, namespace, "bad")
    assert len(pods) == 2  # the first try and one retry
    codes = {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods}
    assert codes == {3}
    cond = next(
        c
        for c in kube.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/bad")["status"]["conditions"]
        if c["type"] == "Failed"
    )
    assert cond["reason"] == "BackoffLimitExceeded"


def test_deleting_a_job_lets_the_garbage_collector_remove_its_pods(kube: Kube, namespace: str) -> None:
    code = "import time; time.sleep(300)"
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job("long", code))
    wait_for(
        lambda: any(p["status"].get("phase") == "Running" for p in pods_of(kube, namespace, "long")),
        60,
        "pod to run",
    )
    kube.delete(f"/apis/batch/v1/namespaces/{namespace}/jobs/long", {"propagationPolicy": "Background"})
    wait_for(lambda: not pods_of(kube, namespace, "long"), 60, "pods to be collected")


def test_service_account_without_a_role_is_forbidden_inside_its_pod(kube: Kube, namespace: str) -> None:
    # The pod reads its own token at the in-cluster path and asks for Secrets and for itself.
    code = textwrap.dedent("""
        import os, pathlib, ssl, urllib.request, urllib.error
        sa = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")
        host = os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"]
        ctx = ssl.create_default_context(cafile=str(sa / "ca.crt"))
        def status(path):
            req = urllib.request.Request("https://" + host + path,
                headers={"Authorization": "Bearer " + (sa / "token").read_text()})
            try:
                return urllib.request.urlopen(req, context=ctx).status
            except urllib.error.HTTPError as e:
                return e.code
        ns = (sa / "namespace").read_text()
        result = "secrets=%s pods=%s" % (status(f"/api/v1/namespaces/{ns}/secrets"),
                                         status(f"/api/v1/namespaces/{ns}/pods"))
        pathlib.Path("/dev/termination-log").write_text(result)
    """)
    base = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
    )
    kube.create(
        f"{base}/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pods"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        },
    )
    kube.create(
        f"{base}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job("rbac", code, sa="reader"))
    assert wait_for(lambda: job_condition(kube, namespace, "rbac"), 60, "job to finish") == "Complete"
    (pod,) = pods_of(kube, namespace, "rbac")
    message = pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message == "secrets=403 pods=200"


def test_kubectl_logs_reads_the_pods_output(kube: Kube, kubectl: list[str], namespace: str) -> None:
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job("talk", "print('line one'); print('two')"))
    assert wait_for(lambda: job_condition(kube, namespace, "talk"), 60, "job to finish") == "Complete"
    out = subprocess.run([*kubectl, "-n", namespace, "logs", "job/talk"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["line one", "two"]
