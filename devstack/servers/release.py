"""The mp4mp3 system on the devstack, installed as users install it: `helm upgrade --install` of
charts/mp4mp3 with the images built here and the devstack's servers as the chart's external ones.

The values file is written under the devstack's state folder (it holds the servers' passwords,
so it never enters git). Pods reach MariaDB, RabbitMQ, FerretDB and the mail sink at the node's
bridge address; the host reaches the gateway and auth through fixed NodePorts on that address.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from devstack.config import LOOPBACK, ROOT
from devstack.network import NODE_IP
from devstack.process import ManagedProcess, StartError, wait_until
from devstack.servers.kubernetes import KubeServer
from devstack.servers.platform import pod_env

RELEASE = "mp4mp3"
NAMESPACE = "mp4mp3"
CHART = ROOT / "charts" / "mp4mp3"
GATEWAY_NODE_PORT = 30080
AUTH_NODE_PORT = 30081
# the operator's and notification's /metrics, reachable from the host (.devstack/env names them)
OPERATOR_METRICS_NODE_PORT = 30091
NOTIFICATION_METRICS_NODE_PORT = 30092
# small enough that the largest accepted upload converts in seconds in a test; the chart sizes
# the converter's work dir from it
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
INSTALL_TIMEOUT = "10m"
DEPLOYMENTS = ("auth", "gateway", "operator", "notification")  # each its values key and image

Env = dict[str, str]


def gateway_url() -> str:
    return f"http://{NODE_IP}:{GATEWAY_NODE_PORT}"


def auth_url() -> str:
    return f"http://{NODE_IP}:{AUTH_NODE_PORT}"


def metrics_urls() -> dict[str, str]:
    return {
        "GATEWAY_METRICS_URL": f"{gateway_url()}/metrics",
        "OPERATOR_METRICS_URL": f"http://{NODE_IP}:{OPERATOR_METRICS_NODE_PORT}/metrics",
        "NOTIFICATION_METRICS_URL": f"http://{NODE_IP}:{NOTIFICATION_METRICS_NODE_PORT}/metrics",
    }


def pod_visible(url: str) -> str:
    """The URL a pod uses for a server the host reaches at 127.0.0.1: the same port on the node's
    bridge address (every server that pods use listens there too)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname != LOOPBACK:
        return url
    netloc = parts.netloc.replace(LOOPBACK, NODE_IP)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def split_ref(ref: str) -> dict[str, str]:
    """localhost/mp4mp3/gateway:abc -> {repository: localhost/mp4mp3/gateway, tag: abc}."""
    repository, _, tag = ref.rpartition(":")
    if not repository or "/" in tag:
        raise ValueError(f"image reference without a tag: {ref}")
    return {"repository": repository, "tag": tag}


def values(images: dict[str, str], data_env: Env) -> dict[str, Any]:
    """The chart values of the devstack's release (pure: images and the servers' env in)."""
    url = gateway_url()
    out: dict[str, Any] = {
        "publicUrl": url,
        "image": {"pullPolicy": "Never"},  # imported into containerd, no registry to pull from
        "gateway": {
            "replicaCount": 1,
            "maxUploadBytes": MAX_UPLOAD_BYTES,
            "service": {"type": "NodePort", "nodePort": GATEWAY_NODE_PORT},
        },
        # the test suites and the bench sign up thousands of users from this one host
        "auth": {"service": {"type": "NodePort", "nodePort": AUTH_NODE_PORT}, "signupsPerClient": 1_000_000},
        "operator": {"converter": {}, "metrics": _metrics_node_port(OPERATOR_METRICS_NODE_PORT)},
        "notification": {
            "mailFrom": "mp4mp3 <no-reply@mp4mp3.localhost>",
            "smtp": {"host": NODE_IP, "port": int(data_env["SMTP_PORT"]), "starttls": False},
            "metrics": _metrics_node_port(NOTIFICATION_METRICS_NODE_PORT),
        },
        # the tests' webhook receivers run on the host, which pods reach at the node's bridge address
        "webhooks": {"allowedNetworks": f"127.0.0.0/8,{NODE_IP}/32"},
        "mongodb": {"enabled": False},
        "rabbitmq": {"enabled": False},
        "mysql": {"enabled": False},
        "mailpit": {"enabled": False},
        "externalMongodb": {"uri": pod_visible(data_env["MONGO_URI"])},
        "externalRabbitmq": {"url": pod_visible(data_env["AMQP_URL"])},
        "externalMysql": {"url": pod_visible(data_env["MYSQL_URL"])},
    }
    for service in DEPLOYMENTS:
        out.setdefault(service, {})["image"] = split_ref(images[service])
    out["operator"]["converter"]["image"] = split_ref(images["converter"])
    return out


def _metrics_node_port(port: int) -> dict[str, Any]:
    return {"service": {"type": "NodePort", "nodePort": port}}


class Release(KubeServer):
    """The chart's release: no process of ours, the node runs it; up = installed and answering."""

    name = "mp4mp3"

    @property
    def processes(self) -> list[ManagedProcess]:
        return []

    @property
    def main(self) -> ManagedProcess:
        return ManagedProcess(self.name, self.home)  # never started: the kubelet runs the pods

    def running(self) -> bool:
        return self.ready()

    def start(self) -> None:
        """Always: images rebuilt if their inputs changed, and the release upgraded if the chart or
        its values did, so `make up` deploys the checkout's code (a no-op when nothing changed)."""
        self.launch()

    @property
    def helm(self) -> list[str]:
        binary = self.cfg.binaries["HELM_BIN"] / "helm"
        return [str(binary), f"--kubeconfig={self.cfg.kubeconfig}", "-n", NAMESPACE]

    @property
    def values_file(self) -> Path:
        return self.home / "values.yaml"

    def launch(self) -> None:
        from devstack.images import ensure_images  # imports buildah's wrappers only when needed

        images = ensure_images(self.cfg)
        self.write_values(values(images, pod_env(self.cfg)))
        digest = self.digest()
        if self.installed.exists() and self.installed.read_text() == digest and self.ready():
            return
        started = time.monotonic()
        self._wait_for_namespace_to_go()
        self.install()
        (self.home / "install-seconds").write_text(f"{time.monotonic() - started:.1f}\n")
        wait_until(self.ready, 120, "the gateway and auth through their NodePorts")
        self.installed.write_text(digest)

    @property
    def installed(self) -> Path:
        """The digest of the chart and values last installed."""
        return self.home / "installed"

    def digest(self) -> str:
        h = hashlib.sha256(self.values_file.read_bytes())
        for path in sorted(p for p in CHART.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(CHART)).encode() + b"\0" + path.read_bytes())
        return h.hexdigest()

    def write_values(self, content: dict[str, Any]) -> None:
        self.values_file.write_text(
            "# written by the devstack (devstack/servers/release.py); holds passwords, never in git\n"
            + yaml.safe_dump(content, sort_keys=False)
        )
        self.values_file.chmod(0o600)

    def install(self, *overrides: str) -> None:
        """helm upgrade --install with the devstack's values file, then ``overrides`` (``--set k=v``
        arguments: a test that needs another setting for a while, then installs without them)."""
        self.installed.unlink(missing_ok=True)  # what runs is no longer what `make up` wrote
        argv = [*self.helm, "upgrade", "--install", RELEASE, str(CHART), "--create-namespace"]
        argv += ["-f", str(self.values_file), *overrides, "--wait", "--timeout", INSTALL_TIMEOUT]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise StartError(
                f"helm upgrade --install {RELEASE} failed:\n{done.stderr.strip()}\n{self._pods()}"
            )

    def _pods(self) -> str:
        kubectl = [self.binary("kubectl"), f"--kubeconfig={self.cfg.kubeconfig}", "-n", NAMESPACE]
        done = subprocess.run([*kubectl, "get", "pods", "-o", "wide"], capture_output=True, text=True)
        return done.stdout + done.stderr

    def ready(self) -> bool:
        return _answers(f"{gateway_url()}/readyz") and _answers(f"{auth_url()}/readyz")

    def stop(self) -> bool:
        """ConversionJobs first, while the operator runs to take its cleanup finalizer off them
        (the namespace could not go otherwise), then the release, then the namespace."""
        if not self.cfg.kubeconfig.exists() or not _api_up(self):
            return False
        listed = subprocess.run([*self.helm, "status", RELEASE], capture_output=True, text=True)
        self._kubectl("delete", "conversionjobs", "--all", "--wait", "--timeout=60s")
        if listed.returncode == 0:
            subprocess.run(
                [*self.helm, "uninstall", RELEASE, "--wait", "--timeout", "3m"], capture_output=True
            )
        self._release_stranded_conversionjobs()
        gone = self._kubectl(
            "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait", "--timeout=120s"
        )
        self.installed.unlink(missing_ok=True)
        return listed.returncode == 0 or "deleted" in gone.stdout

    def _kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [self.binary("kubectl"), f"--kubeconfig={self.cfg.kubeconfig}", "-n", NAMESPACE, *args]
        return subprocess.run(argv, capture_output=True, text=True)

    def _release_stranded_conversionjobs(self) -> None:
        """ConversionJobs left with the operator's finalizer and no operator to remove it (a `down`
        that lost its operator first): the devstack's own namespace must still go, so drop it."""
        names = self._kubectl("get", "conversionjobs", "-o", "name").stdout.split()
        for name in names:
            self._kubectl("patch", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')

    def _wait_for_namespace_to_go(self) -> None:
        """A namespace still terminating from an earlier `down` refuses new objects."""
        phase = self._kubectl("get", "namespace", NAMESPACE, "-o", "jsonpath={.status.phase}").stdout
        if phase != "Terminating":
            return
        self._release_stranded_conversionjobs()
        wait_until(
            lambda: self._kubectl("get", "namespace", NAMESPACE).returncode != 0, 120, "namespace gone"
        )

    def env(self) -> Env:
        return {"GATEWAY_URL": gateway_url(), "AUTH_URL": auth_url(), **metrics_urls()}

    def urls(self) -> dict[str, str]:
        return {
            "gateway (REST API)": f"{gateway_url()}/docs",
            "auth": f"{auth_url()}/docs",
            "release": f"helm -n {NAMESPACE} status {RELEASE} (values: {self.values_file})",
        }


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _api_up(server: KubeServer) -> bool:
    from devstack.servers.kubernetes import KubeAPIServer

    return KubeAPIServer(server.cfg).ready()


__all__ = ["NAMESPACE", "RELEASE", "Release", "values"]
