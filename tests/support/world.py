"""The tests' "world": a place of their own on the devstack's shared servers, so that a test folder
never meets another's data, and two folders run in one pytest call side by side.

A world is one Kubernetes namespace holding a service's RBAC (deploy/rbac/<role>.yaml) and its
ServiceAccount, a kubeconfig with that ServiceAccount's token (the service runs with exactly the
rights it has in a cluster), one MongoDB database and one RabbitMQ vhost. A service's tests extend
``World`` with what they look at (tests/support/gateway_harness.py, operator_harness.py); ``Worlds``
makes them on demand and removes them all at the end of the session (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit

import pymongo
import yaml

from common.resources import GROUP, PLURAL, VERSION
from devstack.config import ROOT
from devstack.kube import ApiError, Kube
from devstack.pki import PKI, kubeconfig
from devstack.process import wait_until
from devstack.servers.kubernetes import KubeAPIServer
from devstack.servers.rabbitmq import management
from devstack.stack import Stack

ALL_RIGHTS = {"configure": ".*", "write": ".*", "read": ".*"}


@dataclass
class World:
    """One namespace + ServiceAccount token + database + vhost, and admin access to look at them.
    Subclasses name the service whose RBAC the namespace gets (``ROLE``) and a short ``PREFIX``
    for the names of its parts."""

    ROLE: ClassVar[str] = "gateway"
    PREFIX: ClassVar[str] = "w"

    tag: str
    namespace: str
    mongo_uri: str
    amqp_url: str
    kubeconfig: Path
    folder: Path
    admin: Kube
    kubectl_argv: list[str]
    db: Any  # pymongo Database

    @classmethod
    def service_account(cls) -> str:
        return f"mp4mp3-{cls.ROLE}"

    @property
    def user(self) -> str:
        """The Kubernetes user name the world's kubeconfig authenticates as."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account()}"

    @property
    def cj_path(self) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"

    def opened(self) -> None:
        """Called once the world exists (a subclass binds its taps here)."""

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """kubectl as the admin, in the world's namespace."""
        return subprocess.run(
            [*self.kubectl_argv, "-n", self.namespace, *args], input=stdin, capture_output=True, text=True
        )

    def conversionjob(self, name: str) -> dict[str, Any] | None:
        """The ConversionJob as the API server has it now, or None if there is none."""
        try:
            return self.admin.get(f"{self.cj_path}/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def close(self) -> None:
        """Remove the namespace (finalizers of ConversionJobs left without an operator dropped)."""
        for item in self.admin.get(self.cj_path)["items"]:
            path = f"{self.cj_path}/{item['metadata']['name']}"
            quietly(self.admin.patch, path, {"metadata": {"finalizers": None}})
        quietly(self.admin.delete, f"/api/v1/namespaces/{self.namespace}")


def quietly(call: Callable[..., Any], *args: Any) -> None:
    """An API call whose object may already be gone (404) or going (409)."""
    try:
        call(*args)
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise


W = TypeVar("W", bound=World)


class Worlds:
    """Makes worlds on demand; removes them all (namespace, database, vhost, folder) at close()."""

    def __init__(self, devstack: Stack, admin: Kube, kubectl: list[str]) -> None:
        self.devstack, self.admin, self.kubectl = devstack, admin, kubectl
        self.made: list[tuple[World, str, str]] = []

    def new(self, kind: type[W]) -> W:
        cfg = self.devstack.cfg
        tag = uuid.uuid4().hex[:8]
        namespace = vhost = f"{kind.PREFIX}-{tag}"
        self.admin.create(
            "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        self._apply_rbac(kind.ROLE, namespace)
        account = kind.service_account()
        token = wait_until(lambda: self._token(namespace, account), 30, f"a token for {account}")
        folder = cfg.dir("scratch") / f"{kind.ROLE}-{tag}"
        folder.mkdir(parents=True)
        kc = folder / "kubeconfig"
        api = KubeAPIServer(cfg).api_url  # NODE_IP only when the devstack runs a node
        ca = PKI(cfg.dir("pki")).path("ca.crt")
        user = f"system:serviceaccount:{namespace}:{account}"
        kc.write_text(yaml.safe_dump(kubeconfig(api, ca, user, token=token, namespace=namespace)))

        env = self.devstack.data_env()
        amqp_url = self._vhost(env["AMQP_URL"], vhost)
        database = f"{kind.PREFIX}test_{tag}"
        mongo_uri = env["MONGO_URI"].rsplit("/", 1)[0] + "/" + database
        client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
        world = kind(
            tag, namespace, mongo_uri, amqp_url, kc, folder, self.admin, self.kubectl,
            client.get_default_database(),
        )  # fmt: skip
        self.made.append((world, database, vhost))
        world.opened()
        return world

    def _apply_rbac(self, role: str, namespace: str) -> None:
        """The service's Role, RoleBinding and ServiceAccount, bound in this namespace."""
        docs = list(yaml.safe_load_all((ROOT / "deploy" / "rbac" / f"{role}.yaml").read_text()))
        for doc in docs:
            for subject in doc.get("subjects", []):
                subject["namespace"] = namespace
        done = subprocess.run(
            [*self.kubectl, "apply", "-n", namespace, "-f", "-"],
            input=yaml.safe_dump_all(docs),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr

    def _token(self, namespace: str, account: str) -> str | None:
        try:
            return self.admin.service_account_token(namespace, account, 7200)
        except ApiError as exc:
            if exc.status == 404:  # the ServiceAccount is not there yet
                return None
            raise

    def _vhost(self, amqp_url: str, vhost: str) -> str:
        """Make a vhost the devstack's RabbitMQ user may use fully; returns its AMQP URL."""
        port = self.devstack.cfg.ports.rabbitmq_management
        management(amqp_url, port, "PUT", f"/api/vhosts/{vhost}")
        user = urlsplit(amqp_url).username or ""
        management(amqp_url, port, "PUT", f"/api/permissions/{vhost}/{user}", ALL_RIGHTS)
        return amqp_url.rsplit("/", 1)[0] + "/" + quote(vhost, safe="")

    def close(self) -> None:
        amqp_url = self.devstack.data_env()["AMQP_URL"]
        port = self.devstack.cfg.ports.rabbitmq_management
        for world, database, vhost in reversed(self.made):
            world.close()
            world.db.client.drop_database(database)
            world.db.client.close()
            management(amqp_url, port, "DELETE", f"/api/vhosts/{vhost}")
            if not os.environ.get("MP4MP3_KEEP_TEST_LOGS"):
                shutil.rmtree(world.folder, ignore_errors=True)
