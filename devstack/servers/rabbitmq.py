"""RabbitMQ from Debian's package: our own node name, ports, epmd, data and cookie."""

from __future__ import annotations

import os
import subprocess
from typing import Any
from urllib.parse import urlsplit

import httpx
import pika
import pika.exceptions

from devstack.config import LOOPBACK
from devstack.process import ManagedProcess
from devstack.servers.base import Server, devstack_secret

RABBITMQ_BIN = "/usr/lib/rabbitmq/bin"
USER = "mp4mp3"


class RabbitMQ(Server):
    name = "rabbitmq"

    def ports(self) -> list[int]:
        return [self.cfg.ports.epmd, self.cfg.ports.amqp, self.cfg.ports.rabbitmq_management]

    @property
    def processes(self) -> list[ManagedProcess]:
        # our own epmd on our own port, so we never share (or stop) a system epmd
        return [ManagedProcess("epmd", self.home), ManagedProcess("rabbitmq", self.home)]

    @property
    def password(self) -> str:
        return devstack_secret(self.cfg, "rabbitmq_password")

    @property
    def node_env(self) -> dict[str, str]:
        p = self.cfg.ports
        return {
            "HOME": str(self.home),  # the Erlang cookie lives here
            "RABBITMQ_NODENAME": "mp4mp3@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
            "RABBITMQ_NODE_PORT": str(p.amqp),
            "RABBITMQ_DIST_PORT": str(p.rabbitmq_dist),
            "ERL_EPMD_PORT": str(p.epmd),
            "ERL_EPMD_ADDRESS": LOOPBACK,
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.home / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.home / "rabbitmq.pid"),
            "RABBITMQ_CONF_ENV_FILE": str(self.home / "rabbitmq-env.conf"),
            "PATH": f"{RABBITMQ_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }

    def launch(self) -> None:
        self._write_config()
        epmd, server = self.processes
        epmd.start(
            ["epmd", "-port", str(self.cfg.ports.epmd), "-address", LOOPBACK],
            env={"ERL_EPMD_ADDRESS": LOOPBACK},
        )
        server.start([f"{RABBITMQ_BIN}/rabbitmq-server"], env=self.node_env, cwd=self.home)
        server.wait_ready(self.ready, timeout=120, what="accepting AMQP connections")

    def _write_config(self) -> None:
        p = self.cfg.ports
        (self.home / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    *(f"listeners.tcp.{i + 1} = {h}:{p.amqp}" for i, h in enumerate(self.listen_hosts)),
                    f"management.tcp.ip = {LOOPBACK}",
                    f"management.tcp.port = {p.rabbitmq_management}",
                    f"default_user = {USER}",
                    f"default_pass = {self.password}",
                    "default_user_tags.administrator = true",
                    "loopback_users = none",
                    "log.console = true",
                    "log.file = false",
                    "",
                ]
            )
        )
        (self.home / "advanced.config").write_text("[].\n")
        (self.home / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.home / "rabbitmq-env.conf").write_text("")
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(devstack_secret(self.cfg, "erlang_cookie"))
            cookie.chmod(0o400)

    def ready(self) -> bool:
        try:
            pika.BlockingConnection(self.connection_parameters(timeout=2)).close()
            return True
        except (pika.exceptions.AMQPError, OSError):
            return False

    def connection_parameters(self, timeout: float = 5) -> pika.ConnectionParameters:
        return pika.ConnectionParameters(
            host=LOOPBACK,
            port=self.cfg.ports.amqp,
            credentials=pika.PlainCredentials(USER, self.password),
            socket_timeout=timeout,
            blocked_connection_timeout=timeout,
            connection_attempts=1,
        )

    def ctl(self, *args: str) -> str:
        """Run rabbitmqctl against our node (e.g. to set policies)."""
        return subprocess.run(
            [f"{RABBITMQ_BIN}/rabbitmqctl", *args],
            env={**os.environ, **self.node_env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def env(self) -> dict[str, str]:
        return {"AMQP_URL": f"amqp://{USER}:{self.password}@{LOOPBACK}:{self.cfg.ports.amqp}/%2F"}

    def urls(self) -> dict[str, str]:
        p = self.cfg.ports
        return {
            "rabbitmq": f"amqp://{LOOPBACK}:{p.amqp}",
            "rabbitmq management": f"http://{LOOPBACK}:{p.rabbitmq_management}/ (user {USER})",
        }


def management(amqp_url: str, port: int, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    """Call RabbitMQ's management HTTP API (e.g. to make or drop a test's own vhost) with the
    credentials of ``amqp_url``; 404 counts as done, so deletes are idempotent."""
    parts = urlsplit(amqp_url)
    resp = httpx.request(
        method,
        f"http://{parts.hostname}:{port}{path}",
        json=body,
        auth=(parts.username or "", parts.password or ""),
        timeout=30,
    )
    if resp.status_code not in (200, 201, 204, 404):
        raise RuntimeError(f"RabbitMQ management {method} {path}: {resp.status_code} {resp.text}")
