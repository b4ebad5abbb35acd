"""The devstack node's network: one bridge on this machine that pods, servers and the host share.

The devstack creates the bridge ``mp4mp3br0`` with ``NODE_IP`` before any server starts, so the
servers that pods use (MariaDB, RabbitMQ, FerretDB, SMTP, kube-apiserver) can bind that address
as well as 127.0.0.1 — never 0.0.0.0, so nothing opens on the machine's external interface. Pods
get addresses in ``POD_CIDR`` from the CNI bridge plugin on the same bridge, with ``NODE_IP`` as
their gateway; nothing is masqueraded, so no pod traffic leaves the machine. Cluster DNS
(CoreDNS, a host process) answers on ``NODE_IP:53``; NodePorts open on ``NODE_IP`` only.
"""

from __future__ import annotations

import json
from typing import Any

BRIDGE = "mp4mp3br0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
BRIDGE_ADDRESS = f"{NODE_IP}/24"
SERVICE_CIDR = "10.96.0.0/24"
KUBERNETES_SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: the first address of SERVICE_CIDR
CLUSTER_DNS = NODE_IP
CLUSTER_DNS_PORT = 53
CLUSTER_DOMAIN = "cluster.local"
NODE_NAME = "devstack"
CNI_NETWORK = "mp4mp3"


def cni_bridge_conf(ipam_dir: str) -> dict[str, Any]:
    """The CNI conflist for pods: our bridge, host-local IPAM on POD_CIDR (leases in ``ipam_dir``
    rather than /var/lib/cni), no masquerade."""
    return {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "hairpinMode": True,  # a pod reaches itself through its own Service
                "ipMasq": False,  # nothing is routed off the machine
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir,
                },
            },
        ],
    }


def cni_loopback_conf() -> dict[str, Any]:
    return {"cniVersion": "0.4.0", "name": "lo", "type": "loopback"}


def cni_files(ipam_dir: str) -> dict[str, str]:
    """File name -> content for the CNI config dir (containerd loads them in name order)."""
    return {
        "10-mp4mp3.conflist": json.dumps(cni_bridge_conf(ipam_dir), indent=2),
        "99-loopback.conf": json.dumps(cni_loopback_conf(), indent=2),
    }
