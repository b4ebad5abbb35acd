"""Kueue (sigs.k8s.io/kueue), the job queueing controller the chart can hand admission to
(``operator.admission.mode=kueue``), as a host process: started only when named (``python -m
devstack up kueue``, or a test), like our services as host processes.

Its objects come from its own Helm chart (copied from the module by devstack/build.sh), rendered
here and cut down to what a host process serving ``batch/v1`` Jobs needs: the CRDs, its manager
role bound to its client certificate's user (``system:kueue``), the secret its certificate
rotator fills, and the webhooks of Jobs and its own kinds. The rotator makes the webhooks' serving
certificate and injects its CA into the webhook configurations and the CRDs' conversion webhooks;
the webhook Service has no selector, its one endpoint is this process on the node's bridge.

Its webhooks fail closed, so they would refuse every Job while Kueue is down: those of Jobs act
only in namespaces labelled ``MANAGED_LABEL``, and ``stop`` deletes both configurations before the
process goes.
"""

from __future__ import annotations

import base64
import subprocess
from typing import Any

import httpx
import yaml

from devstack.config import LOOPBACK
from devstack.kube import ApiError, Kube
from devstack.network import NODE_IP
from devstack.process import port_open
from devstack.servers.node import NodeServer, http_ok

NAMESPACE = "kueue-system"
WEBHOOK_SERVICE = "kueue-webhook-service"  # the rotator names its certificate and configurations after it
WEBHOOK_SECRET = "kueue-webhook-server-cert"
WEBHOOK_CONFIGURATIONS = {
    "mutatingwebhookconfiguration": "kueue-mutating-webhook-configuration",
    "validatingwebhookconfiguration": "kueue-validating-webhook-configuration",
}
MANAGED_LABEL = "kueue.mp4mp3.io/managed"  # "true" on a namespace whose Jobs Kueue's webhooks see
# the webhooks kept: Jobs, and Kueue's own kinds (the others are for frameworks we do not run)
WEBHOOKS = {
    "mjob.kb.io",
    "vjob.kb.io",
    "mclusterqueue.kb.io",
    "vclusterqueue.kb.io",
    "vcohort.kb.io",
    "mresourceflavor.kb.io",
    "vresourceflavor.kb.io",
    "mworkload.kb.io",
    "vworkload.kb.io",
}
JOB_WEBHOOKS = {"mjob.kb.io", "vjob.kb.io"}
KEPT = {
    ("Role", "kueue-manager-secrets-role"),  # the rotator's secret
    ("Secret", WEBHOOK_SECRET),
}


class Kueue(NodeServer):
    name = "kueue"
    user = "kueue"

    def ports(self) -> list[int]:
        return [self.cfg.ports.kueue_webhook, self.cfg.ports.kueue_health]

    def launch(self) -> None:
        kc = self.kubeconfig()
        # server-side: Kueue's CRDs are too large for the last-applied annotation
        self.apply(self.objects(), "--server-side", "--force-conflicts")
        config = self.home / "config.yaml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        binary = self.cfg.binaries["KUEUE_BIN"] / "kueue"
        self.main.start([str(binary), f"--config={config}", f"--kubeconfig={kc}", "--zap-log-level=2"])
        # ready once its certificate is made, injected and "mounted" (below), and its webhooks serve
        self.main.wait_ready(self._mounted_and_ready, timeout=120, what="ready (certificates, webhooks up)")

    def _mounted_and_ready(self) -> bool:
        """What the kubelet does for a pod: the rotator's secret, as files in the webhook's cert dir
        (the rotator waits until they match the secret before it serves)."""
        certs = self.home / "certs"
        kube = Kube.from_kubeconfig(self.cfg.kubeconfig)
        try:
            data = kube.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{WEBHOOK_SECRET}").get("data") or {}
        except (ApiError, httpx.HTTPError):
            data = {}
        finally:
            kube.close()
        certs.mkdir(exist_ok=True)
        for key, value in data.items():
            path, content = certs / key, base64.b64decode(value)
            if not path.exists() or path.read_bytes() != content:
                path.write_bytes(content)
                path.chmod(0o600)
        return self.ready()

    def config(self) -> dict[str, Any]:
        return {
            "apiVersion": "config.kueue.x-k8s.io/v1beta2",
            "kind": "Configuration",
            "namespace": NAMESPACE,
            "health": {"healthProbeBindAddress": f"{LOOPBACK}:{self.cfg.ports.kueue_health}"},
            "metrics": {"bindAddress": "0"},  # none: its metrics would need certificates of their own
            "webhook": {
                "host": NODE_IP,
                "port": self.cfg.ports.kueue_webhook,
                "certDir": str(self.home / "certs"),
            },
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {
                "enable": True,
                "webhookServiceName": WEBHOOK_SERVICE,
                "webhookSecretName": WEBHOOK_SECRET,
            },
            "integrations": {"frameworks": ["batch/job"]},
            "featureGates": {"VisibilityOnDemand": False},  # an aggregated API we do not register
        }

    def objects(self) -> list[dict[str, Any]]:
        """Kueue's chart, cut down (see the module's docstring), and what replaces the rest."""
        rendered = subprocess.run(
            [
                str(self.cfg.binaries["HELM_BIN"] / "helm"),
                "template",
                "kueue",
                str(self.cfg.binaries["KUEUE_BIN"] / "chart"),
                "--namespace",
                NAMESPACE,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        out: list[dict[str, Any]] = [_namespace()]
        for obj in (o for o in yaml.safe_load_all(rendered) if o):
            kind, name = obj["kind"], obj["metadata"]["name"]
            if kind == "CustomResourceDefinition" or (kind, name) in KEPT:
                out.append(obj)
            elif kind == "ClusterRole" and name == "kueue-manager-role":
                out += [obj, _binding("ClusterRoleBinding", name, f"system:{self.user}")]
            elif kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
                obj["webhooks"] = [_scoped(w) for w in obj["webhooks"] if w["name"] in WEBHOOKS]
                out.append(obj)
        role = "kueue-manager-secrets-role"
        out.append(_binding("RoleBinding", role, f"system:{self.user}", NAMESPACE))
        out += self.host_endpoint(WEBHOOK_SERVICE, NAMESPACE, self.cfg.ports.kueue_webhook)
        return out

    def stop(self) -> bool:
        if self.main.running() and self.cfg.kubeconfig.exists():
            for kind, name in WEBHOOK_CONFIGURATIONS.items():
                self.kubectl("delete", kind, name, "--ignore-not-found", check=False)
        return super().stop()

    def ready(self) -> bool:
        """Ready by its own probe, and its webhook server listening (once its certificates exist)."""
        if not http_ok(f"http://{LOOPBACK}:{self.cfg.ports.kueue_health}/readyz"):
            return False
        return port_open(self.cfg.ports.kueue_webhook, NODE_IP)

    def urls(self) -> dict[str, str]:
        webhooks = f"https://{NODE_IP}:{self.cfg.ports.kueue_webhook}"
        return {"kueue": f"webhooks {webhooks}; Jobs of namespaces labelled {MANAGED_LABEL}=true"}


def _namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def _binding(kind: str, role: str, user: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"{role}-devstack"}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role" if namespace else "ClusterRole",
            "name": role,
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def _scoped(webhook: dict[str, Any]) -> dict[str, Any]:
    """A Job webhook acts only in namespaces labelled MANAGED_LABEL=true (fail-closed elsewhere
    would refuse every Job of the cluster while Kueue is down)."""
    if webhook["name"] in JOB_WEBHOOKS:
        webhook["namespaceSelector"] = {"matchLabels": {MANAGED_LABEL: "true"}}
    return webhook
