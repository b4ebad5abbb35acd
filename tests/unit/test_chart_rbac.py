"""The chart grants exactly the rights of deploy/rbac/ (what the devstack runs the services under),
no more, no wildcards, bound to the right ServiceAccounts."""

from __future__ import annotations

import subprocess
from functools import cache
from typing import Any

import pytest
import yaml

from devstack.config import ROOT, Config

CHART = ROOT / "charts" / "mp4mp3"
DEPLOY_RBAC = ROOT / "deploy" / "rbac"
KUBE_VERSION = "1.34.0"
# a shared converter identity, so the chart renders all three Roles deploy/rbac/ holds
SHARED_CONVERTER = ("--set", "operator.converter.perJobServiceAccount=false")
Doc = dict[str, Any]
Permission = tuple[str, str, str, str]  # apiGroup, resource, verb, resourceName ("" = any)


@cache
def render(*args: str) -> tuple[Doc, ...]:
    helm = str(Config.from_env().binaries["HELM_BIN"] / "helm")
    out = subprocess.run(
        [helm, "template", "mp4mp3", str(CHART), "-n", "mp4mp3", "--kube-version", KUBE_VERSION, *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def deploy_rbac(component: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all((DEPLOY_RBAC / f"{component}.yaml").read_text()) if d]


def permissions(rules: list[Doc]) -> set[Permission]:
    """Rules as the authorizer reads them: every (group, resource, verb, name) they allow."""
    return {
        (group, resource, verb, name)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
        for name in rule.get("resourceNames") or [""]
    }


def roles_of(docs: list[Doc] | tuple[Doc, ...], account: str) -> list[Doc]:
    """The Roles/ClusterRoles bound to ServiceAccount `account` in `docs`."""
    bound = {
        (b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in docs
        if b["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and any(s["kind"] == "ServiceAccount" and s["name"] == account for s in b["subjects"])
    }
    return [d for d in docs if (d["kind"], d["metadata"]["name"]) in bound]


@pytest.mark.parametrize("component", ["operator", "gateway", "converter"])
def test_the_chart_grants_what_deploy_rbac_grants(component: str) -> None:
    account = f"mp4mp3-{component}"
    theirs = roles_of(deploy_rbac(component), account)
    ours = roles_of(render(*SHARED_CONVERTER), account)

    assert theirs, f"deploy/rbac/{component}.yaml binds no Role to {account}"
    assert [r["kind"] for r in ours] == [r["kind"] for r in theirs]
    assert permissions([rule for r in ours for rule in r["rules"]]) == permissions(
        [rule for r in theirs for rule in r["rules"]]
    )


def test_the_chart_uses_the_devstacks_service_account_names() -> None:
    names = {d["metadata"]["name"] for d in render(*SHARED_CONVERTER) if d["kind"] == "ServiceAccount"}
    for component in ("operator", "gateway", "converter"):
        (sa,) = [d for d in deploy_rbac(component) if d["kind"] == "ServiceAccount"]
        assert sa["metadata"]["name"] in names


@pytest.mark.parametrize(
    "args", [(), SHARED_CONVERTER], ids=["per-job converter accounts", "shared converter"]
)
def test_no_rule_uses_a_wildcard(args: tuple[str, ...]) -> None:
    rules = [rule for d in render(*args) if d["kind"] in ("Role", "ClusterRole") for rule in d["rules"]]

    assert rules
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, []), rule
    assert not [d for d in render(*args) if d["kind"].startswith("Cluster")]


def test_bindings_name_the_release_namespace_and_their_own_role() -> None:
    for binding in (d for d in render(*SHARED_CONVERTER) if d["kind"] == "RoleBinding"):
        name = binding["metadata"]["name"]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "mp4mp3"}]


def test_per_job_converter_accounts_leave_no_shared_converter_identity() -> None:
    docs = render()

    assert not [
        d for d in docs if d["metadata"]["name"] == "mp4mp3-converter" and d["kind"] != "NetworkPolicy"
    ]
    assert (
        "OPERATOR_CONVERTER_SERVICE_ACCOUNT"
        not in next(
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "mp4mp3-operator"
        )["data"]
    )


@pytest.mark.parametrize("component", ["auth", "notification"])
def test_services_that_never_call_kubernetes_get_no_rights_and_no_token(component: str) -> None:
    docs = render()
    account = f"mp4mp3-{component}"
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == account]

    assert roles_of(docs, account) == []
    assert sa["automountServiceAccountToken"] is False
