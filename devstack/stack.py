"""The devstack as a whole: which servers, in which order, and the env file they share."""

from __future__ import annotations

import contextlib
import fcntl
import shlex
import time
from collections.abc import Iterable, Iterator

from devstack.config import Config
from devstack.servers.base import Server
from devstack.servers.kueue import Kueue
from devstack.servers.platform import NODE, platform_classes
from devstack.servers.platform import data_env as platform_data_env
from devstack.servers.platform import pod_env as platform_pod_env
from devstack.servers.release import Release
from devstack.servers.services import SERVICES, Service

__all__ = ["NODE", "Stack", "server_classes"]


def server_classes(cfg: Config) -> list[type[Server]]:
    """What `make up` runs, in start order: the platform, then the system itself as the Helm chart
    installs it (last: it runs on all the above; no node, no release)."""
    return [*platform_classes(cfg), *([Release] if cfg.node else [])]


class Stack:
    """``servers``: what `make up` runs (the system itself as the chart's release). ``host_services``:
    our services as host processes, and Kueue, started only when named (tests that need one)."""

    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = cfg or Config.from_env()
        self.servers: dict[str, Server] = {cls.name: cls(self.cfg) for cls in server_classes(self.cfg)}
        self.host_services: dict[str, Server] = {spec.name: Service(self.cfg, spec) for spec in SERVICES}
        if self.cfg.node:  # Kueue, for the chart's admission handed to it (its Jobs run on the node)
            self.host_services[Kueue.name] = Kueue(self.cfg)

    def __getitem__(self, name: str) -> Server:
        return self.servers.get(name) or self.host_services[name]

    def select(self, names: Iterable[str] | None) -> list[Server]:
        if not names:
            return list(self.servers.values())
        wanted = set(names)
        known = {**self.servers, **self.host_services}
        unknown = wanted - set(known)
        if unknown:
            raise KeyError(f"unknown server(s): {', '.join(sorted(unknown))}; known: {', '.join(known)}")
        return [s for s in known.values() if s.name in wanted]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One `up`/`down` at a time per devstack: concurrent callers (parallel test sessions)
        would otherwise start the same server twice and lose track of one of them."""
        self.cfg.state.mkdir(parents=True, exist_ok=True)
        with (self.cfg.state / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def up(self, names: Iterable[str] | None = None, echo: bool = False) -> None:
        with self._locked():
            self._up(names, echo)

    def _up(self, names: Iterable[str] | None, echo: bool) -> None:
        for server in self.select(names):
            if isinstance(server, Service) and not server.exists():
                if echo:
                    _say(f"  {server.name:<24} skipped (package {server.spec.package}/ not written yet)")
                continue
            start = time.monotonic()
            was_running = server.running()
            server.start()
            if echo:
                how = "already running" if was_running else f"started in {time.monotonic() - start:.1f} s"
                _say(f"  {server.name:<24} {how}")
        self.write_env()

    def down(self, names: Iterable[str] | None = None, echo: bool = False) -> None:
        with self._locked():
            self._down(names, echo)

    def _down(self, names: Iterable[str] | None, echo: bool) -> None:
        # a plain `down` also stops host services a test left running (they need the servers)
        chosen = self.select(names) if names else [*self.servers.values(), *self.host_services.values()]
        for server in reversed(chosen):
            start = time.monotonic()
            stopped = server.stop()
            if echo:
                how = f"stopped in {time.monotonic() - start:.1f} s" if stopped else "was not running"
                _say(f"  {server.name:<24} {how}")

    def status(self) -> dict[str, bool]:
        return {name: server.running() for name, server in self.servers.items()}

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {"MP4MP3_DEVSTACK_DIR": str(self.cfg.state)}
        # host services a test started (AUTH_URL...) first: the chart's release, where it runs, wins
        running = [service for service in self.host_services.values() if service.running()]
        for server in [*running, *self.servers.values()]:
            env.update(server.env())
        return env

    def data_env(self) -> dict[str, str]:
        """The env of the servers only (not of our services): what services are configured from."""
        return platform_data_env(self.cfg)

    def pod_env(self) -> dict[str, str]:
        """The servers' env as a pod sees it; empty without a node (devstack.servers.platform)."""
        return platform_pod_env(self.cfg)

    def urls(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        for server in self.servers.values():
            urls.update(server.urls())
        return urls

    def write_env(self) -> None:
        lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(self.env().items())]
        self.cfg.env_file.write_text(
            "# written by `make up`; source it: . .devstack/env\n" + "\n".join(lines) + "\n"
        )
        self.cfg.env_file.chmod(0o600)


def _say(line: str) -> None:
    """Print a line of up's or down's progress; a reader gone (`devstack down | head`) must not
    stop a down half way, with servers left running."""
    with contextlib.suppress(BrokenPipeError):
        print(line, flush=True)
