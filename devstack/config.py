"""Where the devstack keeps its state, which ports it uses, and where the built binaries are."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Ports:
    """Fixed, uncommon ports so the devstack runs beside any system copy of the same servers.

    ``MP4MP3_DEVSTACK_PORT_OFFSET`` shifts them all, e.g. to run two checkouts side by side.
    """

    offset: int = 0

    def _p(self, base: int) -> int:
        return base + self.offset

    @property
    def etcd(self) -> int:
        return self._p(32379)

    @property
    def etcd_peer(self) -> int:
        return self._p(32380)

    @property
    def apiserver(self) -> int:
        return self._p(36443)

    @property
    def controller_manager(self) -> int:
        return self._p(36257)

    @property
    def kubelet(self) -> int:
        return self._p(36250)

    @property
    def epmd(self) -> int:
        return self._p(34369)

    @property
    def amqp(self) -> int:
        return self._p(35672)

    @property
    def rabbitmq_management(self) -> int:
        return self._p(35673)

    @property
    def rabbitmq_dist(self) -> int:
        return self._p(35674)

    @property
    def mysql(self) -> int:
        return self._p(33306)

    @property
    def postgres(self) -> int:
        return self._p(35432)

    @property
    def mongo(self) -> int:
        return self._p(37017)

    @property
    def smtp(self) -> int:
        return self._p(32525)

    @property
    def gateway(self) -> int:
        return self._p(38000)

    @property
    def auth(self) -> int:
        return self._p(38001)

    @property
    def operator_health(self) -> int:
        return self._p(38002)


@dataclass(frozen=True)
class Config:
    state: Path
    cache: Path
    ports: Ports

    @classmethod
    def from_env(cls) -> Config:
        state = Path(os.environ.get("MP4MP3_DEVSTACK_DIR", ROOT / ".devstack")).resolve()
        xdg = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        cache = Path(os.environ.get("MP4MP3_CACHE", xdg / "mp4mp3"))
        offset = int(os.environ.get("MP4MP3_DEVSTACK_PORT_OFFSET", "0"))
        return cls(state=state, cache=cache, ports=Ports(offset))

    def dir(self, name: str) -> Path:
        path = self.state / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def binaries(self) -> dict[str, Path]:
        """KUBERNETES_BIN, ETCD_BIN, ... as printed by build.sh (it knows the pinned versions)."""
        out = subprocess.run(
            [str(ROOT / "devstack" / "build.sh"), "paths"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "MP4MP3_CACHE": str(self.cache)},
        ).stdout
        return {k: Path(v) for k, v in (line.split("=", 1) for line in out.split())}

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def env_file(self) -> Path:
        return self.state / "env"

    @property
    def mail_dir(self) -> Path:
        return self.state / "mail"

    @property
    def venv_bin(self) -> Path:
        return ROOT / ".venv" / "bin"
