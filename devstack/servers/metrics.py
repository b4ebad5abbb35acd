"""metrics-server: the resource metrics API (``metrics.k8s.io``) that HorizontalPodAutoscalers and
``kubectl top`` read, as a host process on the node's bridge address.

It scrapes the kubelet's ``/metrics/resource`` with its own client certificate (the kubelet asks
the API server whether ``system:metrics-server`` may get ``nodes/metrics``) and serves the API
through the API server's aggregation layer: an APIService names a Service without selector whose
one endpoint is this process (the API server routes to endpoints, ``--enable-aggregator-routing``),
and the API server proxies to it with its front-proxy client certificate.
"""

from __future__ import annotations

import base64
from typing import Any

from devstack.config import ROOT
from devstack.network import NODE_IP
from devstack.pki import METRICS_SERVER_SERVING as SERVING
from devstack.servers.kubernetes import https_ok
from devstack.servers.node import NodeServer

GROUP_VERSION = "v1beta1.metrics.k8s.io"
SERVICE = "metrics-server"  # in kube-system (its serving certificate names it: devstack/pki.py)
RESOLUTION = "10s"  # how often it scrapes the kubelet (its least; 60 s by default)


class MetricsServer(NodeServer):
    name = "metrics-server"
    user = "metrics-server"

    def ports(self) -> list[int]:
        return [self.cfg.ports.metrics_server]

    @property
    def url(self) -> str:
        return f"https://{NODE_IP}:{self.cfg.ports.metrics_server}"

    def launch(self) -> None:
        kc = self.kubeconfig()
        pki = self.pki
        self.kubectl("apply", "-f", str(ROOT / "devstack" / "manifests" / "metrics-server-rbac.yaml"))
        self.main.start(
            [
                str(self.cfg.binaries["METRICS_SERVER_BIN"] / "metrics-server"),
                f"--kubeconfig={kc}",  # the API server and the kubelet: its client certificate
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                f"--bind-address={NODE_IP}",
                f"--secure-port={self.cfg.ports.metrics_server}",
                f"--tls-cert-file={pki.path(f'{SERVING}.crt')}",
                f"--tls-private-key-file={pki.path(f'{SERVING}.key')}",
                f"--kubelet-certificate-authority={pki.path('ca.crt')}",
                "--kubelet-preferred-address-types=InternalIP",
                "--kubelet-use-node-status-port",  # the kubelet's port is ours, not 10250
                f"--metric-resolution={RESOLUTION}",
                "--kubelet-request-timeout=5s",  # under 90% of the resolution, as it insists
                "--v=1",
            ]
        )
        self.main.wait_ready(self.ready, timeout=60, what="serving")
        self.apply(self.registration())

    def registration(self) -> list[dict[str, Any]]:
        """The Service (no selector), its one endpoint (this process) and the APIService."""
        ca = base64.b64encode(self.pki.path("ca.crt").read_bytes()).decode()
        return [
            *self.host_endpoint(SERVICE, "kube-system", self.cfg.ports.metrics_server),
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": GROUP_VERSION, "labels": {"app.kubernetes.io/name": SERVICE}},
                "spec": {
                    "service": {"name": SERVICE, "namespace": "kube-system", "port": 443},
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "caBundle": ca,
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                },
            },
        ]

    def stop(self) -> bool:
        # an APIService nobody serves makes discovery fail: kubectl warns on every call and the
        # namespace controller cannot finish deleting namespaces; it comes back with the server
        if self.main.running() and self.cfg.kubeconfig.exists():
            self.kubectl(
                "delete", "apiservice", GROUP_VERSION, "--ignore-not-found", "--wait=false", check=False
            )
        return super().stop()

    def ready(self) -> bool:
        return https_ok(f"{self.url}/livez", self.pki, self.user)

    def urls(self) -> dict[str, str]:
        return {"resource metrics": f"{self.url} (kubectl top pods -A; {GROUP_VERSION})"}
