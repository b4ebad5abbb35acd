"""The devstack's Kubernetes is real: Jobs run as containers on a real node (kubelet, containerd,
runc), Services answer by name through CoreDNS and kube-proxy, and `make down` leaves the machine
as it found it."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import textwrap
import urllib.request
from typing import Any

import psutil
import pytest

from devstack import host, images
from devstack.bridge import node_dirs, record_path
from devstack.kube import Kube
from devstack.network import NODE_IP
from devstack.process import wait_until as wait_for
from devstack.stack import NODE, Stack

pytestmark = pytest.mark.devstack


@pytest.fixture(scope="session")
def python_image(devstack: Stack) -> str:
    """The project's Python base image (devstack/images.py), in the node's containerd."""
    ref = images.ensure_base(devstack.cfg).ref
    images.ensure_imported(devstack.cfg, ref)
    return ref


def pod_spec(image: str, code: str) -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": image, "command": ["python3", "-c", code]}],
    }


def job(name: str, code: str, image: str, backoff: int = 0, sa: str | None = None) -> dict[str, Any]:
    pod_spec_ = pod_spec(image, code)
    if sa:
        pod_spec_["serviceAccountName"] = sa
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": backoff, "template": {"spec": pod_spec_}},
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
    info = nodes[0]["status"]["nodeInfo"]
    assert info["kubeletVersion"] == server["gitVersion"]  # a real kubelet, not a stand-in
    assert info["containerRuntimeVersion"].startswith("containerd://")
    addresses = {a["type"]: a["address"] for a in nodes[0]["status"]["addresses"]}
    assert addresses["InternalIP"] == NODE_IP


def test_rbac_decides_can_i(kubectl: list[str]) -> None:
    def can_i(*args: str) -> str:
        out = subprocess.run([*kubectl, "auth", "can-i", *args], capture_output=True, text=True)
        return out.stdout.strip()

    assert can_i("create", "pods") == "yes"  # the admin (system:masters)
    assert can_i("get", "secrets", "--as=system:serviceaccount:default:default") == "no"


def test_job_runs_to_completion_with_termination_message(
    kube: Kube, namespace: str, python_image: str
) -> None:
    code = textwrap.dedent("""
        import os, pathlib
        pathlib.Path("/dev/termination-log").write_text("converted " + os.environ["HOSTNAME"])
    """)
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job("ok", code, python_image))
    assert wait_for(lambda: job_condition(kube, namespace, "ok"), 60, "job to finish") == "Complete"
    status = kube.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/ok")["status"]
    assert status["succeeded"] == 1
    (pod,) = pods_of(kube, namespace, "ok")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["message"] == f"converted {pod['metadata']['name']}"


def test_failing_pod_fails_the_job_after_its_backoff_limit(
    kube: Kube, namespace: str, python_image: str
) -> None:
    bad = job("bad", "raise SystemExit(3)", python_image, backoff=1)
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", bad)
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


def test_deleting_a_job_lets_the_garbage_collector_remove_its_pods(
    kube: Kube, namespace: str, python_image: str
) -> None:
    code = "import time; time.sleep(300)"
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job("long", code, python_image))
    wait_for(
        lambda: any(p["status"].get("phase") == "Running" for p in pods_of(kube, namespace, "long")),
        60,
        "pod to run",
    )
    kube.delete(f"/apis/batch/v1/namespaces/{namespace}/jobs/long", {"propagationPolicy": "Background"})
    wait_for(lambda: not pods_of(kube, namespace, "long"), 60, "pods to be collected")


def test_service_account_without_a_role_is_forbidden_inside_its_pod(
    kube: Kube, namespace: str, python_image: str
) -> None:
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
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job("rbac", code, python_image, sa="reader"))
    assert wait_for(lambda: job_condition(kube, namespace, "rbac"), 60, "job to finish") == "Complete"
    (pod,) = pods_of(kube, namespace, "rbac")
    message = pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message == "secrets=403 pods=200"


def test_kubectl_logs_reads_the_pods_output(
    kube: Kube, kubectl: list[str], namespace: str, python_image: str
) -> None:
    talk = job("talk", "print('line one'); print('two')", python_image)
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", talk)
    assert wait_for(lambda: job_condition(kube, namespace, "talk"), 60, "job to finish") == "Complete"
    out = subprocess.run([*kubectl, "-n", namespace, "logs", "job/talk"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["line one", "two"]


def run_pod(
    kube: Kube, ns: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod)
    wait_for(
        lambda: kube.get(f"/api/v1/namespaces/{ns}/pods/{name}")["status"].get("phase") == "Running",
        60,
        f"pod {name} to run",
    )


def test_kubectl_exec_runs_a_command_in_the_container(
    kube: Kube, kubectl: list[str], namespace: str, python_image: str
) -> None:
    run_pod(kube, namespace, "shell", pod_spec(python_image, "import time; time.sleep(300)"))
    out = subprocess.run(
        [
            *kubectl,
            "-n",
            namespace,
            "exec",
            "shell",
            "--",
            "sh",
            "-c",
            "echo $HOSTNAME; id -u; cat /etc/os-release",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ["shell", "0"]
    assert "ID=debian" in lines  # the image's filesystem, not the host's


def test_a_pod_reaches_a_service_by_name_through_cluster_dns(
    kube: Kube, namespace: str, python_image: str
) -> None:
    web = pod_spec(python_image, "")
    web["containers"][0]["command"] = ["python3", "-m", "http.server", "8080", "--directory", "/etc"]
    run_pod(kube, namespace, "web", web, labels={"app": "web"})
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}], "type": "NodePort"},
    }
    created = kube.create(f"/api/v1/namespaces/{namespace}/services", service)
    # the client: a Job resolving the short name (search path from the kubelet's clusterDNS) and
    # the full name; its answer comes back as the termination message
    code = textwrap.dedent(f"""
        import pathlib, socket, urllib.request
        full = "web.{namespace}.svc.cluster.local"
        body = urllib.request.urlopen("http://web/hostname", timeout=10).read().decode().strip()
        pathlib.Path("/dev/termination-log").write_text(
            socket.gethostbyname(full) + " " + body)
    """)
    client = job("client", code, python_image, backoff=3)
    kube.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", client)
    assert wait_for(lambda: job_condition(kube, namespace, "client"), 120, "client job") == "Complete"
    done = [p for p in pods_of(kube, namespace, "client") if p["status"].get("phase") == "Succeeded"]
    message = done[0]["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message == f"{created['spec']['clusterIP']} web"  # /etc/hostname of pod "web"
    # the NodePort opens on the node's bridge address, reachable from this machine
    node_port = created["spec"]["ports"][0]["nodePort"]
    with urllib.request.urlopen(f"http://{NODE_IP}:{node_port}/hostname", timeout=10) as resp:
        assert resp.read().decode().strip() == "web"
    # ... and on no other address of this machine (never its external interface, not loopback)
    for address in machine_addresses():
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, node_port)) != 0, f"NodePort open on {address}"


def machine_addresses() -> list[str]:
    """This machine's IPv4 addresses other than the node's bridge."""
    return [
        a.address
        for addrs in psutil.net_if_addrs().values()
        for a in addrs
        if a.family == socket.AF_INET and a.address != NODE_IP
    ]


def node_footprint(stack: Stack) -> dict[str, Any]:
    return host.footprint(node_dirs(stack.cfg))


@pytest.mark.slow
@pytest.mark.alone  # it takes the node down and up
def test_down_leaves_the_machine_as_up_found_it(devstack: Stack, python_image: str) -> None:
    """With a pod running, `down` of the node's servers (the bridge included) leaves the machine as
    the node's first `up` found it (its record of the machine, taken before it changed anything);
    then up again: the servers pods use keep running (they serve on the bridge address once back)."""
    found = host.found(record_path(devstack.cfg))
    assert found is not None, "the node's up keeps its record of the machine until down"
    assert not found["processes"] and not found["links"] and not found["mounts"] and not found["chains"]
    try:
        kube = Kube.from_kubeconfig(devstack.cfg.kubeconfig)
        try:
            ns = "footprint"
            if not kube.exists(f"/api/v1/namespaces/{ns}"):
                kube.create(
                    "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                )
            wait_for(
                lambda: kube.exists(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), 30, "default SA"
            )
            # a running pod: a veth on the bridge, mounts, cgroups, iptables chains of kube-proxy
            if not kube.exists(f"/api/v1/namespaces/{ns}/pods/sleeper"):
                run_pod(kube, ns, "sleeper", pod_spec(python_image, "import time; time.sleep(3600)"))
        finally:
            kube.close()
        during = node_footprint(devstack)
        assert during["processes"] and during["links"] and during["mounts"]
        assert during["cgroups"] and during["chains"]
        devstack.down(NODE, echo=True)
        after = node_footprint(devstack)
        assert after == found
    finally:
        devstack.up(NODE, echo=True)  # as the session found it
        with contextlib.suppress(Exception):
            cleanup = Kube.from_kubeconfig(devstack.cfg.kubeconfig)
            cleanup.delete("/api/v1/namespaces/footprint")
            cleanup.close()
