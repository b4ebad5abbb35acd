"""The devstack node's pure parts: which stack runs a node, in what order, its CNI config, and
which iptables rules `down` deletes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography import x509

from devstack import host
from devstack.config import Config, Ports
from devstack.network import BRIDGE, NODE_IP, POD_CIDR, cni_files
from devstack.servers.kubernetes import CLIENTS
from devstack.servers.metrics import MetricsServer
from devstack.stack import NODE, Stack


def test_only_the_default_devstack_runs_a_node(tmp_path: Path) -> None:
    throwaway = Stack(Config(state=tmp_path, cache=tmp_path, ports=Ports(offset=211)))
    assert not set(NODE) & set(throwaway.servers)
    assert throwaway.pod_env() == {}
    node = Stack(Config(state=tmp_path, cache=tmp_path, ports=Ports(), node=True))
    order = list(node.servers)
    assert order[0] == "bridge"  # before every server that binds its address
    expected = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet"]
    assert [n for n in order if n in expected] == expected
    assert order.index("coredns") > order.index("kube-proxy") > order.index("kubelet")
    assert order.index("mp4mp3") > order.index("metrics-server") > order.index("kubelet")  # it scrapes it


def test_metrics_server_is_the_aggregated_metrics_api_at_its_own_address(tmp_path: Path) -> None:
    server = Stack(Config(state=tmp_path, cache=tmp_path, ports=Ports(), node=True))["metrics-server"]
    assert isinstance(server, MetricsServer)
    server.pki.ensure(CLIENTS)
    objects = {o["kind"]: o for o in server.registration()}

    spec = objects["APIService"]["spec"]
    assert objects["APIService"]["metadata"]["name"] == "v1beta1.metrics.k8s.io"
    assert spec["service"] == {"name": "metrics-server", "namespace": "kube-system", "port": 443}
    assert base64.b64decode(spec["caBundle"]) == server.pki.path("ca.crt").read_bytes()
    assert "selector" not in objects["Service"]["spec"]  # its one endpoint is a host process
    (subset,) = objects["Endpoints"]["subsets"]
    assert subset["addresses"] == [{"ip": NODE_IP}]
    assert subset["ports"] == [{"name": "https", "port": server.cfg.ports.metrics_server}]
    # the API server checks the serving certificate against the Service's name
    cert = x509.load_pem_x509_certificate(server.pki.path("metrics-server-serving.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "metrics-server.kube-system.svc" in sans.get_values_for_type(x509.DNSName)


def test_pods_get_urls_on_the_bridge_address(tmp_path: Path) -> None:
    stack = Stack(Config(state=tmp_path, cache=tmp_path, ports=Ports(), node=True))
    env = stack.pod_env()
    assert env["SMTP_HOST"] == NODE_IP
    assert f"@{NODE_IP}:" in env["AMQP_URL"] and f"@{NODE_IP}:" in env["MYSQL_URL"]
    assert env["MONGO_URI"].startswith(f"mongodb://{NODE_IP}:")
    assert "127.0.0.1" not in json.dumps(env)


def test_cni_config_keeps_pods_on_the_bridge_without_masquerade() -> None:
    files = cni_files("/x/ipam")
    bridge = json.loads(files["10-mp4mp3.conflist"])["plugins"][0]
    assert bridge["bridge"] == BRIDGE and bridge["isGateway"] and bridge["hairpinMode"]
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": POD_CIDR, "gateway": NODE_IP}]]
    assert bridge["ipam"]["dataDir"] == "/x/ipam"
    assert json.loads(files["99-loopback.conf"])["type"] == "loopback"


def test_down_deletes_only_rules_that_jump_to_kube_or_cni_chains() -> None:
    assert host._jumps_to_ours(["-A", "PREROUTING", "-m", "comment", "--comment", "x", "-j", "KUBE-SERVICES"])
    assert host._jumps_to_ours(["-A", "POSTROUTING", "-s", "10.244.0.2/32", "-j", "CNI-abc"])
    assert not host._jumps_to_ours(["-A", "KUBE-SERVICES", "-j", "KUBE-SVC-X"])  # flushed with its chain
    assert not host._jumps_to_ours(["-A", "INPUT", "-j", "ACCEPT"])
    assert not host._jumps_to_ours(["-A", "DOCKER", "-j", "DOCKER-USER"])
