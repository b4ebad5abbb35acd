"""mp4mp3's own services as host processes (uvicorn apps, the Kopf operator, the consumer).

`make up` runs the system as the Helm chart installs it (servers/release.py); these are for the
tests that need a service as a process of their own (throwaway replicas, outages), started by name.

Each service runs as a local process with its settings in env (the same variables the Helm chart
sets). Services that talk to Kubernetes get a kubeconfig holding a token of their own
ServiceAccount, so on the devstack they run under exactly the RBAC the chart grants.
A service whose package does not exist yet is skipped.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devstack.config import LOOPBACK, ROOT, Config
from devstack.kube import ApiError, Kube
from devstack.pki import kubeconfig
from devstack.servers.base import Server, devstack_secret
from devstack.servers.kubernetes import KubeServer
from devstack.servers.platform import data_env
from devstack.servers.release import pod_visible

NAMESPACE = "mp4mp3"
TOKEN_SECONDS = 7 * 24 * 3600
JWT_ISSUER = "mp4mp3-auth"
JWT_AUDIENCE = "mp4mp3"
DEVSTACK_SIGNUPS_PER_CLIENT = 1_000_000
DOWNLOAD_LINK_SECRET = "download-link-secret"  # the key in the devstack's secrets.json
# the devstack's tests run webhook receivers on this machine: loopback may receive deliveries here
WEBHOOK_TEST_NETWORKS = "127.0.0.0/8"

Env = dict[str, str]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str  # importable package; the service is skipped while it does not exist
    argv: Callable[[Config], list[str]]
    env: Callable[[Config, Env], Env]  # (config, the data servers' env) -> the service's env
    health: Callable[[Config], str] | None = None  # URL answering 200 when ready
    service_account: str | None = None
    urls: Callable[[Config], dict[str, str]] = field(default=lambda cfg: {})


def _python(module: str, *args: str) -> Callable[[Config], list[str]]:
    return lambda cfg: [sys.executable, "-m", module, *args]


def _uvicorn(app: str, port: Callable[[Config], int]) -> Callable[[Config], list[str]]:
    return lambda cfg: [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        LOOPBACK,
        "--port",
        str(port(cfg)),
        "--no-access-log",
    ]


def _auth_argv(cfg: Config) -> list[str]:
    # --factory as its own argument: uvicorn reads "app --factory" in one argument as the app's name
    return [*_uvicorn("auth.app:create_app", lambda c: c.ports.auth)(cfg), "--factory"]


def _auth_env(cfg: Config, env: Env) -> Env:
    return {
        "AUTH_MYSQL_URL": env["MYSQL_URL"],
        "AUTH_KEYS_DIR": str(cfg.dir("auth") / "keys"),
        "AUTH_GENERATE_KEYS": "true",  # devstack only: the chart mounts keys from a Secret
        "AUTH_ISSUER": JWT_ISSUER,
        "AUTH_AUDIENCE": JWT_AUDIENCE,
        "AUTH_TRUSTED_PROXIES": LOOPBACK,  # the host-process gateway forwards its clients' addresses
        # the test suites and the bench sign up thousands of users from this one host
        "AUTH_SIGNUPS_PER_CLIENT": str(DEVSTACK_SIGNUPS_PER_CLIENT),
    }


def _gateway_argv(cfg: Config) -> list[str]:
    return [*_uvicorn("gateway.app:create_app", lambda c: c.ports.gateway)(cfg), "--factory"]


def _gateway_env(cfg: Config, env: Env) -> Env:
    auth = f"http://{LOOPBACK}:{cfg.ports.auth}"
    return {
        "GATEWAY_MONGO_URI": env["MONGO_URI"],
        "GATEWAY_AMQP_URL": env["AMQP_URL"],
        "GATEWAY_AUTH_URL": auth,
        "GATEWAY_JWKS_URL": f"{auth}/.well-known/jwks.json",
        "GATEWAY_JWT_ISSUER": JWT_ISSUER,
        "GATEWAY_JWT_AUDIENCE": JWT_AUDIENCE,
        "GATEWAY_NAMESPACE": NAMESPACE,
        "GATEWAY_PUBLIC_URL": f"http://{LOOPBACK}:{cfg.ports.gateway}",
        "GATEWAY_DOWNLOAD_LINK_SECRET": secret(cfg, DOWNLOAD_LINK_SECRET),
        "GATEWAY_WEBHOOK_ALLOWED_NETWORKS": WEBHOOK_TEST_NETWORKS,
        "KUBECONFIG": str(cfg.dir("gateway") / "kubeconfig"),
    }


def _operator_env(cfg: Config, env: Env) -> Env:
    return {
        "OPERATOR_AMQP_URL": env["AMQP_URL"],
        "OPERATOR_MONGO_URI": env["MONGO_URI"],
        "OPERATOR_NAMESPACE": NAMESPACE,
        "OPERATOR_HEALTH_HOST": LOOPBACK,
        "OPERATOR_HEALTH_PORT": str(cfg.ports.operator_health),
        "OPERATOR_METRICS_HOST": LOOPBACK,
        "OPERATOR_METRICS_PORT": str(cfg.ports.operator_metrics),
        # one replica with a stable identity: a restarted operator does not wait for its own
        # previous keep-alive in the Kopf peering to expire (the chart uses the pod's name)
        "OPERATOR_PEER_ID": "devstack-operator",
        # the converter Job's pod runs on the node from the image built here, and reaches
        # FerretDB at the node's address (its own loopback is not the host's)
        "OPERATOR_CONVERTER_IMAGE": _converter_image(cfg),
        "OPERATOR_CONVERTER_IMAGE_PULL_POLICY": "Never",
        "OPERATOR_CONVERTER_MONGO_URI": pod_visible(env["MONGO_URI"]),
        "KUBECONFIG": str(cfg.dir("operator") / "kubeconfig"),
    }


def _converter_image(cfg: Config) -> str:
    from devstack.images import ensure_images  # builds only what is missing

    return ensure_images(cfg)["converter"]


def _notification_env(cfg: Config, env: Env) -> Env:
    return {
        "NOTIFY_AMQP_URL": env["AMQP_URL"],
        "NOTIFY_MONGO_URI": env["MONGO_URI"],
        "NOTIFY_SMTP_HOST": env["SMTP_HOST"],
        "NOTIFY_SMTP_PORT": env["SMTP_PORT"],
        "NOTIFY_SMTP_STARTTLS": "false",
        "NOTIFY_MAIL_FROM": "mp4mp3 <no-reply@mp4mp3.localhost>",
        "NOTIFY_PUBLIC_URL": f"http://{LOOPBACK}:{cfg.ports.gateway}",
        "NOTIFY_DOWNLOAD_LINK_SECRET": secret(cfg, DOWNLOAD_LINK_SECRET),
        "NOTIFY_WEBHOOK_ALLOWED_NETWORKS": WEBHOOK_TEST_NETWORKS,
        "NOTIFY_METRICS_HOST": LOOPBACK,
        "NOTIFY_METRICS_PORT": str(cfg.ports.notification_metrics),
    }


SERVICES = [
    ServiceSpec(
        "auth",
        "auth",
        _auth_argv,
        _auth_env,
        health=lambda c: f"http://{LOOPBACK}:{c.ports.auth}/readyz",
        urls=lambda c: {"auth": f"http://{LOOPBACK}:{c.ports.auth}/docs"},
    ),
    ServiceSpec(
        "operator",
        "conversion_operator",
        _python("conversion_operator"),
        _operator_env,
        health=lambda c: f"http://{LOOPBACK}:{c.ports.operator_health}/healthz",
        service_account="mp4mp3-operator",
    ),
    ServiceSpec(
        "gateway",
        "gateway",
        _gateway_argv,
        _gateway_env,
        health=lambda c: f"http://{LOOPBACK}:{c.ports.gateway}/readyz",
        service_account="mp4mp3-gateway",
        urls=lambda c: {"gateway (REST API)": f"http://{LOOPBACK}:{c.ports.gateway}/docs"},
    ),
    ServiceSpec("notification", "notification", _python("notification"), _notification_env),
]
# what a gateway process of this checkout needs running (tests' gateways, the gateway bench): its
# databases, the broker, the API server, and auth (its users' tokens)
GATEWAY_SERVERS = [
    "mariadb",
    "rabbitmq",
    "postgres",
    "ferretdb",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "auth",
]


def cluster_setup(cfg: Config, kubectl: str) -> None:
    """The cluster objects every service needs: the CRD, the namespace, and the RBAC manifests."""
    admin = [kubectl, f"--kubeconfig={cfg.kubeconfig}"]
    subprocess.run([*admin, "apply", "-f", str(ROOT / "crds")], check=True, capture_output=True)
    subprocess.run(
        [*admin, "wait", "--for=condition=Established", "--timeout=60s", "crd/conversionjobs.mp4mp3.io"],
        check=True,
        capture_output=True,
    )
    ns = subprocess.run(
        [*admin, "create", "namespace", NAMESPACE, "--dry-run=client", "-o", "yaml"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    subprocess.run([*admin, "apply", "-f", "-"], input=ns, check=True, capture_output=True, text=True)
    rbac = ROOT / "deploy" / "rbac"
    if rbac.is_dir() and any(rbac.glob("*.yaml")):
        subprocess.run([*admin, "apply", "-n", NAMESPACE, "-f", str(rbac)], check=True, capture_output=True)


class Service(KubeServer):
    """One of our services, run from the repo's code with the devstack's env."""

    def __init__(self, cfg: Config, spec: ServiceSpec) -> None:
        super().__init__(cfg)
        self.spec = spec
        self.name = spec.name

    def ports(self) -> list[int]:
        port = urllib.parse.urlparse(self.spec.health(self.cfg)).port if self.spec.health else None
        return [port] if port else []

    def exists(self) -> bool:
        return importlib.util.find_spec(self.spec.package) is not None and (ROOT / self.spec.package).is_dir()

    def running(self) -> bool:
        return not self.exists() or super().running()

    def start(self) -> None:
        if self.exists():
            super().start()

    def data_env(self) -> Env:
        return data_env(self.cfg)

    def service_env(self) -> Env:
        return {"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO", **self.spec.env(self.cfg, self.data_env())}

    def launch(self) -> None:
        cluster_setup(self.cfg, self.binary("kubectl"))
        if self.spec.service_account:
            self.write_service_account_kubeconfig(self.spec.service_account)
        self.main.start(self.spec.argv(self.cfg), env=self.service_env(), cwd=ROOT)
        self.main.wait_ready(self.ready, timeout=90, what="healthy")

    def write_service_account_kubeconfig(self, account: str) -> Path:
        """A kubeconfig with a token of ``account`` (made if missing) for this service's process."""
        kube = Kube.from_kubeconfig(self.cfg.kubeconfig)
        sa_path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts"
        try:
            kube.create(
                sa_path,
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": account, "namespace": NAMESPACE},
                },
            )
        except ApiError as exc:
            if exc.status != 409:
                raise
        token = kube.service_account_token(NAMESPACE, account, TOKEN_SECONDS)
        kube.close()
        config = kubeconfig(
            self.api_url,
            self.pki.path("ca.crt"),
            f"system:serviceaccount:{NAMESPACE}:{account}",
            token=token,
            namespace=NAMESPACE,
        )
        path = self.home / "kubeconfig"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    def ready(self) -> bool:
        if self.spec.health is None:
            return self.main.running()
        try:
            with urllib.request.urlopen(self.spec.health(self.cfg), timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def env(self) -> Env:
        ports = self.cfg.ports
        if self.spec.name == "gateway":
            url = f"http://{LOOPBACK}:{ports.gateway}"
            return {"GATEWAY_URL": url, "GATEWAY_METRICS_URL": f"{url}/metrics"}
        if self.spec.name == "auth":
            return {"AUTH_URL": f"http://{LOOPBACK}:{ports.auth}"}
        if self.spec.name == "operator":
            return {"OPERATOR_METRICS_URL": f"http://{LOOPBACK}:{ports.operator_metrics}/metrics"}
        if self.spec.name == "notification":
            return {"NOTIFICATION_METRICS_URL": f"http://{LOOPBACK}:{ports.notification_metrics}/metrics"}
        return {}

    def urls(self) -> dict[str, str]:
        return self.spec.urls(self.cfg) if self.exists() else {}


def secret(cfg: Config, key: str) -> str:
    return devstack_secret(cfg, key)


__all__ = ["GATEWAY_SERVERS", "NAMESPACE", "SERVICES", "Server", "Service", "ServiceSpec", "cluster_setup"]
