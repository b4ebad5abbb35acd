"""Kueue's objects as the devstack applies them (its chart cut down): its Job webhooks never act
outside the namespaces that ask for them (they fail closed, and Kueue runs only when named)."""

from __future__ import annotations

from pathlib import Path

from devstack.config import Config, Ports
from devstack.network import NODE_IP
from devstack.servers.kueue import JOB_WEBHOOKS, MANAGED_LABEL, WEBHOOK_SERVICE, WEBHOOKS, Kueue
from devstack.stack import Stack


def kueue(tmp_path: Path) -> Kueue:
    server = Stack(Config(state=tmp_path, cache=Config.from_env().cache, ports=Ports(), node=True))["kueue"]
    assert isinstance(server, Kueue)
    return server


def test_kueue_is_started_only_when_named(tmp_path: Path) -> None:
    stack = Stack(Config(state=tmp_path, cache=tmp_path, ports=Ports(), node=True))
    assert "kueue" in stack.host_services and "kueue" not in stack.servers
    assert "kueue" not in Stack(Config(state=tmp_path, cache=tmp_path, ports=Ports(offset=211))).host_services


def test_only_the_webhooks_of_jobs_and_kueues_kinds_are_kept_and_those_of_jobs_are_opt_in(
    tmp_path: Path,
) -> None:
    objects = kueue(tmp_path).objects()
    webhooks = [
        w
        for o in objects
        if o["kind"] in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
        for w in o["webhooks"]
    ]
    assert {w["name"] for w in webhooks} == WEBHOOKS  # none for pods, Deployments, other frameworks
    for webhook in webhooks:
        if webhook["name"] in JOB_WEBHOOKS:
            assert webhook["namespaceSelector"] == {"matchLabels": {MANAGED_LABEL: "true"}}
    kinds = {o["kind"] for o in objects}
    assert "Deployment" not in kinds and "APIService" not in kinds  # it is a host process
    assert sum(o["kind"] == "CustomResourceDefinition" for o in objects) == 11
    (endpoints,) = [o for o in objects if o["kind"] == "Endpoints"]
    assert endpoints["metadata"]["name"] == WEBHOOK_SERVICE
    assert endpoints["subsets"][0]["addresses"] == [{"ip": NODE_IP}]
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert "selector" not in service["spec"]


def test_its_webhooks_listen_on_the_bridge_with_certificates_it_makes(tmp_path: Path) -> None:
    config = kueue(tmp_path).config()
    assert config["webhook"]["host"] == NODE_IP
    assert config["internalCertManagement"]["enable"] is True
    assert config["integrations"]["frameworks"] == ["batch/job"]
    assert config["leaderElection"] == {"leaderElect": False}
