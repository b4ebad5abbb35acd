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

    All below 32768: Linux hands out 32768-60999 as the local ports of outgoing connections, and
    a client socket holding one of ours would make a restart fail with "address in use".

    ``MP4MP3_DEVSTACK_PORT_OFFSET`` shifts them all, e.g. to run two checkouts side by side.
    """

    offset: int = 0

    def _p(self, base: int) -> int:
        return base + self.offset

    @property
    def etcd(self) -> int:
        return self._p(20379)

    @property
    def etcd_peer(self) -> int:
        return self._p(20380)

    @property
    def apiserver(self) -> int:
        return self._p(24443)

    @property
    def controller_manager(self) -> int:
        return self._p(24257)

    @property
    def kubelet(self) -> int:
        return self._p(24250)

    @property
    def kubelet_healthz(self) -> int:
        return self._p(24248)

    @property
    def kube_proxy_metrics(self) -> int:
        return self._p(24249)

    @property
    def containerd_stream(self) -> int:
        return self._p(24251)

    @property
    def kube_proxy_healthz(self) -> int:
        return self._p(24256)

    @property
    def scheduler(self) -> int:
        return self._p(24259)

    @property
    def coredns_ready(self) -> int:
        return self._p(24181)

    @property
    def metrics_server(self) -> int:
        return self._p(24262)

    @property
    def kueue_webhook(self) -> int:
        return self._p(24263)

    @property
    def kueue_health(self) -> int:
        return self._p(24264)

    @property
    def epmd(self) -> int:
        return self._p(22369)

    @property
    def amqp(self) -> int:
        return self._p(23672)

    @property
    def rabbitmq_management(self) -> int:
        return self._p(23673)

    @property
    def rabbitmq_dist(self) -> int:
        return self._p(23674)

    @property
    def mysql(self) -> int:
        return self._p(21306)

    @property
    def postgres(self) -> int:
        return self._p(23432)

    @property
    def mongo(self) -> int:
        return self._p(25017)

    @property
    def smtp(self) -> int:
        return self._p(20525)

    @property
    def gateway(self) -> int:
        return self._p(26000)

    @property
    def auth(self) -> int:
        return self._p(26001)

    @property
    def operator_health(self) -> int:
        return self._p(26002)

    @property
    def operator_metrics(self) -> int:
        return self._p(26003)

    @property
    def notification_metrics(self) -> int:
        return self._p(26004)


@dataclass(frozen=True)
class Config:
    state: Path
    cache: Path
    ports: Ports
    # run the real node (bridge, containerd, kubelet, kube-proxy, CoreDNS)? One machine has one:
    # only the default devstack does; throwaway stacks (tests, other port offsets) do not
    node: bool = False

    @classmethod
    def from_env(cls) -> Config:
        offset = int(os.environ.get("MP4MP3_DEVSTACK_PORT_OFFSET", "0"))
        # a stack at another offset keeps its own state: sharing etcd's data with the default stack
        # would hand the release objects that stack's host processes made
        default_state = ROOT / (".devstack" if offset == 0 else f".devstack-{offset}")
        state = Path(os.environ.get("MP4MP3_DEVSTACK_DIR", default_state)).resolve()
        xdg = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        cache = Path(os.environ.get("MP4MP3_CACHE", xdg / "mp4mp3"))
        node = os.environ.get("MP4MP3_DEVSTACK_NODE", "1" if offset == 0 else "0") == "1"
        return cls(state=state, cache=cache, ports=Ports(offset), node=node)

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

    @property
    def buildah_args(self) -> list[str]:
        """buildah's global flags: its images and layer cache live under the cache dir, outside the
        repo, so a fresh clone or `make clean-state` does not rebuild them."""
        home = self.cache / "buildah"
        return [
            "--root",
            str(home / "storage"),
            "--runroot",
            str(home / "run"),
            "--storage-driver",
            "overlay",
        ]

    @property
    def containerd_socket(self) -> Path:
        """The devstack's containerd (the node's runtime); images are imported through it."""
        return self.state / "containerd" / "containerd.sock"
