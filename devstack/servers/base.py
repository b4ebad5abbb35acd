"""What every devstack server can do: start (idempotently), say if it runs, stop, export env."""

from __future__ import annotations

import json
import secrets
from abc import ABC, abstractmethod
from pathlib import Path

from devstack.bridge import ensure_bridge
from devstack.config import LOOPBACK, Config
from devstack.network import NODE_IP
from devstack.process import ManagedProcess, StartError, port_open


class Server(ABC):
    name: str

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    @property
    def home(self) -> Path:
        return self.cfg.dir(self.name)

    @property
    def processes(self) -> list[ManagedProcess]:
        """Our processes, in start order (stopped in reverse)."""
        return [ManagedProcess(self.name, self.home)]

    @property
    def main(self) -> ManagedProcess:
        return self.processes[-1]

    def running(self) -> bool:
        return all(p.running() for p in self.processes) and self.ready()

    def ports(self) -> list[int]:
        """The TCP ports this server listens on (checked free before it starts)."""
        return []

    def start(self) -> None:
        if self.running():
            return
        if self.cfg.node:
            ensure_bridge(self.cfg)  # servers bind its address
        for proc in self.processes:
            proc.stop()  # a half-started leftover of ours
        taken = [p for p in self.ports() if port_open(p)]
        if taken:
            raise StartError(
                f"{self.name} cannot start: port(s) {', '.join(map(str, taken))} on 127.0.0.1 are in use by "
                "a process this devstack did not start. Stop it, or shift the devstack's ports with "
                "MP4MP3_DEVSTACK_PORT_OFFSET=N."
            )
        self.launch()

    @abstractmethod
    def launch(self) -> None:
        """Start the processes and return once the server answers."""

    @abstractmethod
    def ready(self) -> bool:
        """Does the server answer requests right now?"""

    def stop(self) -> bool:
        stopped = False
        for proc in reversed(self.processes):
            stopped |= proc.stop()
        return stopped

    def env(self) -> dict[str, str]:
        return {}

    @property
    def listen_hosts(self) -> list[str]:
        """Where to listen: loopback, and the node's bridge address when there is a node (pods
        reach the servers there). Never 0.0.0.0: nothing opens on an external interface."""
        return [LOOPBACK, NODE_IP] if self.cfg.node else [LOOPBACK]

    def pod_env(self) -> dict[str, str]:
        """env() as a pod sees it: the same URLs with the node's bridge address for loopback
        (what the chart gets as its external servers). Empty without a node."""
        if not self.cfg.node:
            return {}
        return {k: v.replace(LOOPBACK, NODE_IP) for k, v in self.env().items()}

    def urls(self) -> dict[str, str]:
        """Human-facing addresses printed by ``make up``."""
        return {}


def devstack_secret(cfg: Config, key: str) -> str:
    """A random secret generated once per devstack and kept in its state folder (never in git)."""
    path = cfg.state / "secrets.json"
    cfg.state.mkdir(parents=True, exist_ok=True)
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if key not in values:
        values[key] = secrets.token_urlsafe(24)
        path.write_text(json.dumps(values, indent=2))
        path.chmod(0o600)
    return values[key]
