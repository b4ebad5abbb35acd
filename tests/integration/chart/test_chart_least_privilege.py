"""Least privilege, asked of the real authorizer: the chart's ServiceAccounts, Roles and
RoleBindings are applied into a throwaway namespace, then `kubectl auth can-i --as=<each
ServiceAccount>` answers yes for what each component does and no for everything it must not."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any, cast

import kopf
import pytest

from common.resources import API_VERSION, KIND, OWNER_LABEL
from devstack.kube import Kube
from tests.support.chart_harness import (
    VALUES_SETS,
    KubectlRefused,
    helm_template,
    kubectl_apply,
    kubectl_create,
)

pytestmark = pytest.mark.devstack

CJ = "conversionjobs.mp4mp3.io"
RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
ELSEWHERE = "default"  # a namespace that is not the release's

# (verb, resource, extra kubectl flags): what each component needs and nothing more
MAY: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    # watch: GET /jobs/events; patch: the retry annotation
    "gateway": [(v, CJ, ()) for v in ("create", "get", "list", "watch", "patch", "delete")],
    "operator": [
        *[(v, CJ, ()) for v in ("get", "list", "watch", "create", "patch", "delete")],  # delete: retention
        ("get", CJ, ("--subresource=status",)),
        ("patch", CJ, ("--subresource=status",)),
        ("update", CJ, ("--subresource=finalizers",)),
        # patch: admission unsuspends
        *[(v, "jobs.batch", ()) for v in ("get", "list", "watch", "create", "patch", "delete")],
        ("list", "pods", ()),
        ("watch", "pods", ()),
        ("create", "serviceaccounts", ()),
        ("create", "roles.rbac.authorization.k8s.io", ()),
        ("create", "rolebindings.rbac.authorization.k8s.io", ()),
        ("create", "events", ()),
        *[(v, "kopfpeerings.kopf.dev", ()) for v in ("get", "list", "watch", "patch", "create")],
    ],
    "converter": [("get", CJ, ("--subresource=status",)), ("patch", CJ, ("--subresource=status",))],
}

_EVERYONE_MUST_NOT = [
    ("get", "secrets", ()),
    ("list", "secrets", ()),
    ("create", "pods", ()),
    ("create", "pods", ("--subresource=exec",)),
    ("list", "configmaps", ()),
    ("escalate", "roles.rbac.authorization.k8s.io", ()),
    ("bind", "roles.rbac.authorization.k8s.io", ()),
    ("list", "customresourcedefinitions.apiextensions.k8s.io", ()),
    ("list", "namespaces", ()),
    ("list", CJ, ("--all-namespaces",)),
    ("create", CJ, ("-n", ELSEWHERE)),
    ("get", CJ, ("--subresource=status", "-n", ELSEWHERE)),
    ("patch", CJ, ("--subresource=status", "-n", ELSEWHERE)),
    ("create", "jobs.batch", ("-n", ELSEWHERE)),
    ("list", "pods", ("-n", ELSEWHERE)),
]
MUST_NOT: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "gateway": [
        *_EVERYONE_MUST_NOT,
        ("update", CJ, ()),
        ("patch", CJ, ("--subresource=status",)),
        ("create", "jobs.batch", ()),
        ("delete", "jobs.batch", ()),
        ("list", "pods", ()),
        ("create", "events", ()),
    ],
    "operator": [
        *_EVERYONE_MUST_NOT,
        ("update", CJ, ()),
        ("deletecollection", CJ, ()),
        ("update", "jobs.batch", ()),
        ("get", "pods", ("--subresource=log",)),
        ("delete", "pods", ()),
        ("delete", "serviceaccounts", ()),
        ("create", "serviceaccounts", ("--subresource=token",)),
        ("update", "roles.rbac.authorization.k8s.io", ()),
        ("delete", "rolebindings.rbac.authorization.k8s.io", ()),
        ("create", "clusterroles.rbac.authorization.k8s.io", ()),
        ("delete", "kopfpeerings.kopf.dev", ()),
    ],
    "converter": [
        *_EVERYONE_MUST_NOT,
        ("get", CJ, ()),
        ("list", CJ, ()),
        ("patch", CJ, ()),  # the spec: what to convert, for whom
        ("update", CJ, ()),
        ("delete", CJ, ()),
        ("update", CJ, ("--subresource=finalizers",)),
        ("delete", "jobs.batch", ()),
        ("get", "jobs.batch", ()),
        ("create", "events", ()),
    ],
    # no Kubernetes API at all
    "auth": [*_EVERYONE_MUST_NOT, ("get", CJ, ()), ("list", CJ, ()), ("list", "pods", ())],
    "notification": [*_EVERYONE_MUST_NOT, ("get", CJ, ()), ("list", CJ, ()), ("list", "pods", ())],
}


@pytest.fixture
def chart_rbac(helm: str, kubectl: list[str], namespace: str) -> str:
    """The rendered chart's RBAC (with the shared converter identity) applied for real."""
    rendered = helm_template(helm, namespace, *VALUES_SETS["bundled"])
    rbac = [d for d in rendered.docs if d["kind"] in RBAC_KINDS]
    assert not [d for d in rbac if d["kind"].startswith("Cluster")], "the chart needs no cluster-wide rights"
    kubectl_apply(kubectl, namespace, rbac)
    return namespace


def can_i(kubectl: list[str], namespace: str, user: str, verb: str, resource: str, *flags: str) -> bool:
    argv = [*kubectl, "auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", *flags]
    out = subprocess.run(argv, capture_output=True, text=True)
    answer = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert answer in ("yes", "no"), f"can-i {verb} {resource} {flags}: {out.stdout!r} {out.stderr!r}"
    return answer == "yes"


def account(namespace: str, component: str) -> str:
    return f"system:serviceaccount:{namespace}:mp4mp3-{component}"


@pytest.mark.parametrize("component", sorted(MAY))
def test_no_right_is_both_needed_and_forbidden(component: str) -> None:
    assert set(MAY[component]) & set(MUST_NOT[component]) == set()


@pytest.mark.parametrize("component", ["gateway", "operator", "converter"])
def test_each_service_account_may_do_its_job(component: str, kubectl: list[str], chart_rbac: str) -> None:
    user = account(chart_rbac, component)
    denied = [(v, r, f) for v, r, f in MAY[component] if not can_i(kubectl, chart_rbac, user, v, r, *f)]
    assert denied == []


@pytest.mark.parametrize("component", ["gateway", "operator", "converter", "auth", "notification"])
def test_no_service_account_may_do_more(component: str, kubectl: list[str], chart_rbac: str) -> None:
    user = account(chart_rbac, component)
    allowed = [(v, r, f) for v, r, f in MUST_NOT[component] if can_i(kubectl, chart_rbac, user, v, r, *f)]
    assert allowed == []


def test_the_operator_can_give_a_converter_its_own_jobs_status_and_nothing_more(
    kubectl: list[str], chart_rbac: str, admin: Kube
) -> None:
    """The default (operator.converter.perJobServiceAccount): the operator itself creates a
    ServiceAccount + Role per ConversionJob. The API server lets it only because the Role grants
    a subset of the operator's own rights; the converter may then patch that one job's status."""
    from conversion_operator import jobs

    ns = chart_rbac
    mine, other = (_create_conversion_job(admin, ns) for _ in range(2))
    per_job = jobs.converter_rbac(kopf.Body(cast(kopf.RawBody, mine)))

    kubectl_create(kubectl, ns, per_job, user=account(ns, "operator"))

    converter = f"system:serviceaccount:{ns}:{jobs.converter_account(mine['metadata']['name'])}"
    own, others = f"{CJ}/{mine['metadata']['name']}", f"{CJ}/{other['metadata']['name']}"
    assert can_i(kubectl, ns, converter, "patch", own, "--subresource=status")
    assert can_i(kubectl, ns, converter, "get", own, "--subresource=status")
    assert not can_i(kubectl, ns, converter, "patch", others, "--subresource=status")
    assert not can_i(kubectl, ns, converter, "patch", own)  # the spec
    assert not can_i(kubectl, ns, converter, "delete", "jobs.batch")
    assert not can_i(kubectl, ns, converter, "get", "secrets")


def test_the_operator_cannot_hand_out_rights_it_does_not_hold(kubectl: list[str], chart_rbac: str) -> None:
    greedy = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "greedy"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    }

    with pytest.raises(KubectlRefused, match="attempting to grant RBAC permissions not currently held"):
        kubectl_create(kubectl, chart_rbac, [greedy], user=account(chart_rbac, "operator"))


def _create_conversion_job(admin: Kube, namespace: str) -> dict[str, Any]:
    name = f"cj-{uuid.uuid4().hex[:24]}"
    body = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "labels": {OWNER_LABEL: "42"}},
        "spec": {
            "source": {"videoId": name[3:], "filename": "talk.mp4", "size": 1000},
            "owner": {"userId": "42", "email": "someone@example.com"},
        },
    }
    return admin.create(f"/apis/{API_VERSION}/namespaces/{namespace}/conversionjobs", body)
