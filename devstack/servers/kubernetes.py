"""The Kubernetes control plane of the devstack: etcd, kube-apiserver, kube-controller-manager.
Real binaries, built by devstack/build.sh; the node (kubelet & co.) is in servers/node.py."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from devstack.config import LOOPBACK
from devstack.network import NODE_IP, SERVICE_CIDR
from devstack.pki import PKI, kubeconfig
from devstack.process import port_open
from devstack.servers.base import Server

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# a throwaway stack has no node: the controllers its tests need; the node's stack runs them all
# (node-lifecycle lifts the not-ready taint; Deployments, ReplicaSets, EndpointSlices need theirs)
CONTROLLERS = [
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "ttl-after-finished-controller",
    "pod-garbage-collector-controller",
]
FRONT_PROXY_CN = "front-proxy-client"
# client identities: file stem -> (CN, O)
CLIENTS = {
    "admin": ("mp4mp3-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "node": ("system:node:devstack", "system:nodes"),
    "scheduler": ("system:kube-scheduler", None),
    "kube-proxy": ("system:kube-proxy", None),
    "coredns": ("mp4mp3:coredns", None),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    # the API server's identity when it proxies to an aggregated API (metrics-server), which
    # trusts the user it names in X-Remote-User only from this certificate's CN
    "front-proxy-client": (FRONT_PROXY_CN, None),
    "metrics-server": ("system:metrics-server", None),
    "kueue": ("system:kueue", None),
}


def https_ok(url: str, pki: PKI, stem: str = "admin") -> bool:
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.crt")))
    ctx.load_cert_chain(str(pki.path(f"{stem}.crt")), str(pki.path(f"{stem}.key")))
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class KubeServer(Server):
    """Shared bits of the control-plane servers."""

    @property
    def pki(self) -> PKI:
        return PKI(self.cfg.dir("pki"))

    @property
    def api_host(self) -> str:
        """The apiserver's one address: the bridge's when there is a node (pods reach it)."""
        return NODE_IP if self.cfg.node else LOOPBACK

    @property
    def api_url(self) -> str:
        return f"https://{self.api_host}:{self.cfg.ports.apiserver}"

    def binary(self, name: str) -> str:
        key = "ETCD_BIN" if name == "etcd" else "KUBERNETES_BIN"
        return str(self.cfg.binaries[key] / name)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> None:
        """kubectl as the admin (``-f -`` reads ``stdin``); a failure raises when ``check``."""
        argv = [self.binary("kubectl"), f"--kubeconfig={self.cfg.kubeconfig}", *args]
        done = subprocess.run(argv, input=stdin, text=True, capture_output=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:2])} failed: {done.stderr.strip()}")

    def apply(self, objects: list[dict[str, Any]], *flags: str) -> None:
        manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        self.kubectl("apply", *flags, "-f", "-", stdin=manifest)

    def host_endpoint(self, name: str, namespace: str, port: int) -> list[dict[str, Any]]:
        """A Service without selector (port 443) whose one endpoint is a host process of ours on
        the node's bridge at ``port``: how the API server reaches an aggregated API or a webhook
        that does not run in a pod."""
        meta = {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": name}}
        return [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": meta,
                "subsets": [{"addresses": [{"ip": NODE_IP}], "ports": [{"name": "https", "port": port}]}],
            },
        ]

    def write_kubeconfig(self, path: Path, stem: str, user: str) -> Path:
        pki = self.pki
        config = kubeconfig(
            self.api_url, pki.path("ca.crt"), user, cert=pki.path(f"{stem}.crt"), key=pki.path(f"{stem}.key")
        )
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path


class Etcd(KubeServer):
    name = "etcd"

    def ports(self) -> list[int]:
        return [self.cfg.ports.etcd, self.cfg.ports.etcd_peer]

    def launch(self) -> None:
        p = self.cfg.ports
        client, peer = f"http://{LOOPBACK}:{p.etcd}", f"http://{LOOPBACK}:{p.etcd_peer}"
        self.main.start(
            [
                self.binary("etcd"),
                "--name=devstack",
                f"--data-dir={self.home / 'data'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=devstack={peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--quota-backend-bytes=4294967296",
            ]
        )
        self.main.wait_ready(self.ready, timeout=60, what="healthy")

    def ready(self) -> bool:
        try:
            url = f"http://{LOOPBACK}:{self.cfg.ports.etcd}/health"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return b'"health":"true"' in resp.read()
        except (urllib.error.URLError, OSError):
            return False


class KubeAPIServer(KubeServer):
    name = "kube-apiserver"

    def ports(self) -> list[int]:
        return [self.cfg.ports.apiserver]

    def launch(self) -> None:
        pki = self.pki
        pki.ensure(CLIENTS)
        self.write_kubeconfig(self.cfg.kubeconfig, "admin", "admin")
        self.main.start(
            [
                self.binary("kube-apiserver"),
                f"--etcd-servers=http://{LOOPBACK}:{self.cfg.ports.etcd}",
                f"--bind-address={self.api_host}",
                f"--advertise-address={self.api_host}",
                f"--secure-port={self.cfg.ports.apiserver}",
                f"--tls-cert-file={pki.path('apiserver.crt')}",
                f"--tls-private-key-file={pki.path('apiserver.key')}",
                f"--client-ca-file={pki.path('ca.crt')}",
                f"--kubelet-client-certificate={pki.path('apiserver-kubelet-client.crt')}",
                f"--kubelet-client-key={pki.path('apiserver-kubelet-client.key')}",
                f"--kubelet-certificate-authority={pki.path('ca.crt')}",
                "--kubelet-preferred-address-types=InternalIP",
                "--authorization-mode=Node,RBAC",
                # a namespace may pin its pods to nodes (tests that play the converter pin theirs to none)
                "--enable-admission-plugins=PodNodeSelector",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-signing-key-file={pki.path('sa.key')}",
                f"--service-account-key-file={pki.path('sa.pub')}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # the aggregation layer (metrics-server): what it proxies with, and to whom
                f"--requestheader-client-ca-file={pki.path('ca.crt')}",
                f"--requestheader-allowed-names={FRONT_PROXY_CN}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki.path('front-proxy-client.crt')}",
                f"--proxy-client-key-file={pki.path('front-proxy-client.key')}",
                "--enable-aggregator-routing=true",  # to the endpoint: this process is not a pod
                *self.endpoint_flags(),
                "--profiling=false",
                "--v=1",
            ]
        )
        self.main.wait_ready(self.ready, timeout=120, what="ready (/readyz)")

    def endpoint_flags(self) -> list[str]:
        # with a node, the `kubernetes` Service's endpoint is NODE_IP:port; loopback is not routable
        return [] if self.cfg.node else ["--endpoint-reconciler-type=none"]

    def ready(self) -> bool:
        return https_ok(f"{self.api_url}/readyz", self.pki)

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.cfg.kubeconfig)}

    def urls(self) -> dict[str, str]:
        return {"kubernetes": f"{self.api_url} (kubeconfig {self.cfg.kubeconfig})"}


class ControllerManager(KubeServer):
    name = "kube-controller-manager"

    def ports(self) -> list[int]:
        return [self.cfg.ports.controller_manager]

    def launch(self) -> None:
        pki = self.pki
        kc = self.write_kubeconfig(
            self.home / "kubeconfig", "controller-manager", "system:kube-controller-manager"
        )
        self.main.start(
            [
                self.binary("kube-controller-manager"),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                f"--bind-address={LOOPBACK}",
                f"--secure-port={self.cfg.ports.controller_manager}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.path('sa.key')}",
                f"--root-ca-file={pki.path('ca.crt')}",
                f"--controllers={'*' if self.cfg.node else ','.join(CONTROLLERS)}",
                "--leader-elect=false",
                "--concurrent-job-syncs=20",
                "--concurrent-gc-syncs=20",
                "--horizontal-pod-autoscaler-sync-period=5s",  # 15 s by default: HPAs act sooner
                "--kube-api-qps=100",
                "--kube-api-burst=200",
                "--v=1",
            ]
        )
        self.main.wait_ready(self.ready, timeout=60, what="healthy")

    def ready(self) -> bool:
        return port_open(self.cfg.ports.controller_manager)
