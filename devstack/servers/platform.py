"""The servers the system runs on (data servers, control plane, node), in start order, and their env.

The stack starts these, then the system on top (the chart's release, or our services as host
processes); the release and the services read the env from here, so none of them imports the stack.
"""

from __future__ import annotations

from devstack.config import Config
from devstack.servers.base import Server
from devstack.servers.ferretdb import FerretDB
from devstack.servers.kubernetes import ControllerManager, Etcd, KubeAPIServer
from devstack.servers.mariadb import MariaDB
from devstack.servers.metrics import MetricsServer
from devstack.servers.node import Bridge, Containerd, CoreDNS, Kubelet, KubeProxy, Scheduler
from devstack.servers.postgres import Postgres
from devstack.servers.rabbitmq import RabbitMQ
from devstack.servers.smtp import MailServer

# The node's servers (Bridge first, so the others can bind its address; the rest after the control
# plane) run only in the default devstack: Config.node
NODE_FIRST: list[type[Server]] = [Bridge]
NODE_LAST: list[type[Server]] = [Scheduler, Containerd, Kubelet, KubeProxy, CoreDNS, MetricsServer]
NODE = [cls.name for cls in NODE_FIRST + NODE_LAST]  # names, for tests that `up` a part of the stack
PLATFORM_CLASSES: list[type[Server]] = [
    MariaDB,
    RabbitMQ,
    Postgres,
    FerretDB,
    MailServer,
    Etcd,
    KubeAPIServer,
    ControllerManager,
]


def platform_classes(cfg: Config) -> list[type[Server]]:
    """PLATFORM_CLASSES in start order, with the node around the control plane when this devstack
    runs one."""
    if not cfg.node:
        return list(PLATFORM_CLASSES)
    return [*NODE_FIRST, *PLATFORM_CLASSES, *NODE_LAST]


def data_env(cfg: Config) -> dict[str, str]:
    """The servers' env (MYSQL_URL, AMQP_URL, MONGO_URI, KUBECONFIG, ...): what services read."""
    env: dict[str, str] = {}
    for cls in platform_classes(cfg):
        env.update(cls(cfg).env())
    return env


def pod_env(cfg: Config) -> dict[str, str]:
    """The servers' env as a pod sees it (on the node's bridge address); empty without a node. What
    the chart gets as its external servers."""
    env: dict[str, str] = {}
    for cls in platform_classes(cfg):
        env.update(cls(cfg).pod_env())
    return env
