"""Helpers of the chart's tests: render the chart with the devstack's helm, apply objects with
kubectl and say why the API server refused them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

import yaml

from devstack.config import ROOT

CHART = ROOT / "charts" / "mp4mp3"
RELEASE = "mp4mp3"  # the devstack's names (deploy/rbac) are this release's
KUBE_VERSION = "1.34.0"  # the devstack's; `helm template` has no cluster to ask
VALUES_SETS = {
    "default": [],
    "bundled": ["-f", str(CHART / "ci" / "bundled-values.yaml")],
    "external": ["-f", str(CHART / "ci" / "external-values.yaml")],
    "monitoring": ["-f", str(CHART / "ci" / "monitoring-values.yaml")],
}

Docs = list[dict[str, Any]]


@dataclass(frozen=True)
class Rendered:
    text: str
    docs: Docs

    def kinds(self, kind: str) -> Docs:
        return [d for d in self.docs if d["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        (doc,) = [d for d in self.kinds(kind) if d["metadata"]["name"] == name]
        return doc


def helm_template(helm: str, namespace: str, *args: str) -> Rendered:
    out = subprocess.run(
        [
            helm,
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            namespace,
            "--kube-version",
            KUBE_VERSION,
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Rendered(out, [d for d in yaml.safe_load_all(out) if d])


class KubectlRefused(Exception):
    """kubectl exited non-zero; the message is its stderr."""


def kubectl_apply(
    kubectl: list[str], namespace: str, docs: Docs, *flags: str, user: str | None = None
) -> str:
    """kubectl apply the objects (as `user` when given); raises KubectlRefused with kubectl's words."""
    return _kubectl_with_objects(kubectl, "apply", namespace, docs, flags, user)


def kubectl_create(
    kubectl: list[str], namespace: str, docs: Docs, *flags: str, user: str | None = None
) -> str:
    """kubectl create the objects: what a controller does (apply would also need get)."""
    return _kubectl_with_objects(kubectl, "create", namespace, docs, flags, user)


def _kubectl_with_objects(
    kubectl: list[str], verb: str, namespace: str, docs: Docs, flags: tuple[str, ...], user: str | None
) -> str:
    argv = [*kubectl, verb, "-n", namespace, "-f", "-", *flags]
    if user:
        argv.append(f"--as={user}")
    proc = subprocess.run(argv, input=yaml.safe_dump_all(docs), capture_output=True, text=True)
    if proc.returncode != 0:
        raise KubectlRefused(proc.stderr.strip() or proc.stdout.strip())
    return proc.stdout
