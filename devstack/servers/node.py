"""The devstack's real node: the bridge pods live on, containerd, kube-scheduler, the kubelet,
kube-proxy and CoreDNS — real binaries (built by devstack/build.sh), real containers (runc).

Only the default devstack runs these (``Config.node``); one machine has one node. Every folder
they write is ours (.devstack/ for state, the cache for containerd's images), except the few
global ones containerd 1.6 and libcni insist on; devstack/host.py records the machine before the
bridge comes up and restores it after the bridge goes down (the first server up, the last down).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import psutil
import yaml

from devstack import host
from devstack.bridge import bridge_up, containerd_root, ensure_bridge, node_dirs, record_path
from devstack.config import LOOPBACK, ROOT
from devstack.kube import ApiError, Kube
from devstack.network import (
    BRIDGE,
    BRIDGE_ADDRESS,
    CLUSTER_DNS,
    CLUSTER_DNS_PORT,
    CLUSTER_DOMAIN,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    cni_files,
)
from devstack.process import ManagedProcess, port_open
from devstack.servers.base import Server
from devstack.servers.kubernetes import CLIENTS, KubeServer

PAUSE_IMAGE = "localhost/mp4mp3/pause:1"
CRI_NAMESPACE = "k8s.io"
RUNC = "/usr/sbin/runc"
CNI_BIN = "/usr/lib/cni"
STOP_TIMEOUT = 60.0  # seconds for the kubelet's pods to stop before containerd goes


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Bridge(Server):
    """mp4mp3br0 with NODE_IP; first up (servers bind its address), last down (restores the host)."""

    name = "bridge"

    @property
    def processes(self) -> list[ManagedProcess]:
        return []

    @property
    def record(self) -> Path:
        return record_path(self.cfg)

    def running(self) -> bool:
        return self.ready()

    def ready(self) -> bool:
        return bridge_up()

    def launch(self) -> None:
        ensure_bridge(self.cfg)

    def stop(self) -> bool:
        was = self.ready() or self.record.exists()
        host.restore(self.record, node_dirs(self.cfg))
        return was

    def urls(self) -> dict[str, str]:
        return {"node network": f"{BRIDGE} {BRIDGE_ADDRESS}, pods {POD_CIDR}"}


class Containerd(Server):
    """containerd with its CRI plugin, config, socket and state in .devstack/containerd.

    Images are imported into it with ``ctr --address Config.containerd_socket -n k8s.io``
    (devstack/images.py); the sandbox image is PAUSE_IMAGE, built here.
    """

    name = "containerd"

    @property
    def socket(self) -> Path:
        return self.cfg.containerd_socket

    @property
    def runc_root(self) -> Path:
        return self.home / "runc"

    @property
    def cni_dir(self) -> Path:
        return self.home / "cni"

    def launch(self) -> None:
        config = self.write_config()
        self.main.start(["containerd", "--config", str(config)])
        self.main.wait_ready(self.ready, timeout=60, what="serving its socket")
        self.ensure_pause_image()

    def write_config(self) -> Path:
        net = self.cni_dir / "net.d"
        net.mkdir(parents=True, exist_ok=True)
        for old in net.iterdir():
            old.unlink()
        for name, text in cni_files(str(self.cni_dir / "ipam")).items():
            (net / name).write_text(text)
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        runc = f"{cri}.containerd.runtimes.runc"
        lines = [
            "version = 2",
            f'root = "{containerd_root(self.cfg)}"',
            f'state = "{self.home / "state"}"',
            "[grpc]",
            f'  address = "{self.socket}"',
            "[ttrpc]",
            f'  address = "{self.home / "ttrpc.sock"}"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{self.home / "opt"}"',
            f"[{cri}]",
            f'  sandbox_image = "{PAUSE_IMAGE}"',
            # root here lacks CAP_SYS_RESOURCE: without this every pod fails in runc create
            "  restrict_oom_score_adj = true",
            "  netns_mounts_under_state_dir = true",
            f'  stream_server_address = "{LOOPBACK}"',
            f'  stream_server_port = "{self.cfg.ports.containerd_stream}"',
            "  enable_selinux = false",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f"[{runc}]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{runc}.options]",
            "  SystemdCgroup = false",
            f'  BinaryName = "{RUNC}"',
            f'  Root = "{self.runc_root}"',
            f"[{cri}.cni]",
            f'  bin_dir = "{CNI_BIN}"',
            f'  conf_dir = "{net}"',
            "  max_conf_num = 1",
        ]
        path = self.home / "config.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def ready(self) -> bool:
        if not self.socket.exists():
            return False
        out = subprocess.run(self.ctr("version"), capture_output=True)
        return out.returncode == 0

    def ctr(self, *args: str) -> list[str]:
        return ["ctr", "--address", str(self.socket), "-n", CRI_NAMESPACE, *args]

    def ensure_pause_image(self) -> None:
        """Build the pause image once (a static Go program in an empty image), import it once."""
        from devstack import images  # late: images imports config only, but is I's module

        if not images.exists(self.cfg, PAUSE_IMAGE):
            binary = self.cfg.binaries["PAUSE_BIN"] / "pause"
            if not binary.exists():
                subprocess.run([str(ROOT / "devstack" / "build.sh"), "pause"], check=True)
            container = images.buildah(self.cfg, "from", "scratch").strip()
            try:
                images.buildah(self.cfg, "copy", container, str(binary), "/pause")
                images.buildah(self.cfg, "config", "--entrypoint", '["/pause"]', "--user", "65535", container)
                images.buildah(self.cfg, "commit", container, PAUSE_IMAGE)
            finally:
                images.buildah(self.cfg, "rm", container)
        images.ensure_imported(self.cfg, PAUSE_IMAGE)

    def stop(self) -> bool:
        """Pods first (through CRI, so CNI releases their addresses and veths), then containerd,
        then whatever a crash left: runc containers in our root, shims, mounts."""
        if not self.main.running():
            self._leftovers()
            return False
        crictl = CriCtl(self)
        if self.ready():
            crictl.remove_all()
        stopped = super().stop()
        self._leftovers()
        return stopped

    def _leftovers(self) -> None:
        if self.runc_root.exists():
            out = subprocess.run(
                [RUNC, "--root", str(self.runc_root), "list", "-q"], capture_output=True, text=True
            )
            for cid in out.stdout.split():
                subprocess.run(
                    [RUNC, "--root", str(self.runc_root), "delete", "--force", cid], capture_output=True
                )
        for proc in our_shims(self.socket):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
        # the pods' rootfs and netns (ours), the kubelet's bind mount of its root and the pods'
        # volumes (tmpfs): only now that no container uses them
        host.unmount_under([self.home / "state", self.cfg.state / Kubelet.name / "root"])


def our_shims(socket: Path) -> list[psutil.Process]:
    """containerd-shim processes serving our containerd (they run in sessions of their own)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if (proc.info["name"] or "").startswith("containerd-shim") and str(socket) in cmdline:
                found.append(proc)
        except psutil.Error:
            continue
    return found


class CriCtl:
    """crictl against our containerd (built by build.sh crictl)."""

    def __init__(self, runtime: Containerd) -> None:
        self.runtime = runtime

    def argv(self, *args: str) -> list[str]:
        binary = self.runtime.cfg.binaries["CRICTL_BIN"] / "crictl"
        endpoint = f"unix://{self.runtime.socket}"
        return [
            str(binary),
            "--runtime-endpoint",
            endpoint,
            "--image-endpoint",
            endpoint,
            "--timeout",
            "30s",
            *args,
        ]

    def remove_all(self) -> None:
        """Stop and remove every pod sandbox (their containers go with them)."""
        pods = subprocess.run(self.argv("pods", "-q"), capture_output=True, text=True).stdout.split()
        if not pods:
            return
        # a pod that will not go is left to Containerd._leftovers (runc delete --force)
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(self.argv("stopp", *pods), capture_output=True, timeout=STOP_TIMEOUT)
            subprocess.run(self.argv("rmp", "--force", "--all"), capture_output=True, timeout=STOP_TIMEOUT)


class NodeServer(KubeServer):
    """A node component that talks to the apiserver with its own client certificate."""

    user = ""  # the certificate's stem in CLIENTS

    def kubeconfig(self) -> Path:
        self.pki.ensure(CLIENTS)
        return self.write_kubeconfig(self.home / "kubeconfig", self.user, CLIENTS[self.user][0])


class Scheduler(NodeServer):
    name = "kube-scheduler"
    user = "scheduler"

    def ports(self) -> list[int]:
        return [self.cfg.ports.scheduler]

    def launch(self) -> None:
        kc = self.kubeconfig()
        self.main.start(
            [
                self.binary("kube-scheduler"),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                f"--bind-address={LOOPBACK}",
                f"--secure-port={self.cfg.ports.scheduler}",
                "--leader-elect=false",
                "--v=1",
            ]
        )
        self.main.wait_ready(self.ready, timeout=60, what="serving")

    def ready(self) -> bool:
        return port_open(self.cfg.ports.scheduler)


class Kubelet(NodeServer):
    name = "kubelet"
    user = "node"

    def ports(self) -> list[int]:
        return [self.cfg.ports.kubelet_healthz]

    @property
    def root(self) -> Path:
        return self.home / "root"

    def launch(self) -> None:
        kc = self.kubeconfig()
        config = self.home / "config.yaml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.main.start(
            [
                self.binary("kubelet"),
                f"--config={config}",
                f"--kubeconfig={kc}",
                f"--root-dir={self.root}",
                f"--cert-dir={self.home / 'pki'}",
                f"--node-ip={NODE_IP}",
                f"--hostname-override={NODE_NAME}",
                "--v=1",
            ]
        )
        self.main.wait_ready(self.ready, timeout=120, what="healthy with a Ready node")

    def config(self) -> dict[str, object]:
        pki = self.pki
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": NODE_IP,
            "port": self.cfg.ports.kubelet,
            "readOnlyPort": 0,
            "healthzBindAddress": LOOPBACK,
            "healthzPort": self.cfg.ports.kubelet_healthz,
            "tlsCertFile": str(pki.path("kubelet.crt")),
            "tlsPrivateKeyFile": str(pki.path("kubelet.key")),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki.path("ca.crt"))},
            },
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "failSwapOn": False,
            "failCgroupV1": False,  # this machine has cgroup v1 (1.35 refuses without it)
            "containerRuntimeEndpoint": f"unix://{self.cfg.containerd_socket}",
            "podLogsDir": str(self.home / "pod-logs"),
            "clusterDNS": [CLUSTER_DNS],
            "clusterDomain": CLUSTER_DOMAIN,
            "serializeImagePulls": False,
            "maxPods": 110,
            # a small shared disk: evict only when really full, never GC our locally built images
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "nodeStatusReportFrequency": "1m",
        }

    def ready(self) -> bool:
        if not http_ok(f"http://{LOOPBACK}:{self.cfg.ports.kubelet_healthz}/healthz"):
            return False
        return node_ready(self)


def node_ready(server: KubeServer) -> bool:
    """Is Node `devstack` registered and Ready (what the scheduler waits for)?"""
    try:
        kube = Kube.from_kubeconfig(server.cfg.kubeconfig)
    except OSError:
        return False
    try:
        conditions = kube.get(f"/api/v1/nodes/{NODE_NAME}").get("status", {}).get("conditions", [])
    except (ApiError, httpx.HTTPError):
        return False
    finally:
        kube.close()
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


class KubeProxy(NodeServer):
    name = "kube-proxy"
    user = "kube-proxy"

    def ports(self) -> list[int]:
        return [self.cfg.ports.kube_proxy_healthz, self.cfg.ports.kube_proxy_metrics]

    def launch(self) -> None:
        kc = self.kubeconfig()
        self.main.start(
            [
                self.binary("kube-proxy"),
                f"--kubeconfig={kc}",
                "--proxy-mode=iptables",
                f"--cluster-cidr={POD_CIDR}",
                f"--hostname-override={NODE_NAME}",
                f"--bind-address={NODE_IP}",
                # a NodePort opens on the bridge only, never on the machine's external interface
                f"--nodeport-addresses={NODE_IP}/32",
                "--iptables-localhost-nodeports=false",
                # it cannot set conntrack sysctls here; 0 = leave them alone
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                f"--healthz-bind-address={LOOPBACK}:{self.cfg.ports.kube_proxy_healthz}",
                f"--metrics-bind-address={LOOPBACK}:{self.cfg.ports.kube_proxy_metrics}",
                "--v=1",
            ]
        )
        self.main.wait_ready(self.ready, timeout=60, what="healthy")

    def ready(self) -> bool:
        return http_ok(f"http://{LOOPBACK}:{self.cfg.ports.kube_proxy_healthz}/healthz")


class CoreDNS(NodeServer):
    """Cluster DNS as a host process on NODE_IP:53; answers cluster.local only (no forwarding)."""

    name = "coredns"
    user = "coredns"

    def launch(self) -> None:
        kc = self.kubeconfig()
        self.kubectl("apply", "-f", str(ROOT / "devstack" / "manifests" / "coredns-rbac.yaml"))
        corefile = self.home / "Corefile"
        corefile.write_text(self.corefile(kc))
        binary = self.cfg.binaries["COREDNS_BIN"] / "coredns"
        self.main.start([str(binary), "-conf", str(corefile)], cwd=self.home)
        self.main.wait_ready(self.ready, timeout=60, what="ready")

    def corefile(self, kubeconfig: Path) -> str:
        return f""".:{CLUSTER_DNS_PORT} {{
    bind {CLUSTER_DNS}
    errors
    ready {LOOPBACK}:{self.cfg.ports.coredns_ready}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} mp4mp3-devstack
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""

    def ready(self) -> bool:
        return http_ok(f"http://{LOOPBACK}:{self.cfg.ports.coredns_ready}/ready")

    def urls(self) -> dict[str, str]:
        return {"cluster DNS": f"{CLUSTER_DNS}:{CLUSTER_DNS_PORT} ({CLUSTER_DOMAIN})"}
