"""How every service reaches the Kubernetes API: where the configuration comes from (a kubeconfig
outside the cluster, the pod's ServiceAccount inside), the TLS context for plain HTTP clients, and
which failures are worth a retry. Each service keeps its own calls.

The official ``kubernetes`` package is imported only by ``load_configuration``: the converter, which
must start fast, talks to the API server with the standard library's http.client and never loads it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes.client import Configuration

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MERGE_PATCH = "application/merge-patch+json"
# the request itself is wrong (bad body, no such namespace or resource, refused by the schema):
# sending it again cannot succeed
REJECTED = frozenset({400, 404, 422})


def load_configuration(kubeconfig: str | None = None) -> Configuration:
    """Out of the cluster: the kubeconfig named, else $KUBECONFIG or ~/.kube/config when it exists
    (the devstack, a developer). In a pod: its ServiceAccount. The loaders are the official
    client's, so token rotation and client certificates behave as kubectl's do."""
    from kubernetes.client import Configuration
    from kubernetes.config import incluster_config, kube_config

    config = Configuration()
    default = Path(os.path.expanduser(kube_config.KUBE_CONFIG_DEFAULT_LOCATION))
    path = kubeconfig or (str(default) if default.exists() else None)
    if path:
        kube_config.load_kube_config(config_file=path, client_configuration=config, persist_config=False)
    else:
        incluster_config.load_incluster_config(client_configuration=config)
    return config


def in_cluster_url(environ: Mapping[str, str] = os.environ) -> str | None:
    """The API server's address as a pod sees it (KUBERNETES_SERVICE_HOST/PORT), None outside one."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    host = f"[{host}]" if ":" in host else host  # an IPv6 cluster
    return f"https://{host}:{port}"


def tls_context(
    ca_file: str | None, verify: bool = True, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """The TLS context for a plain HTTP client of the API server (httpx, http.client): its CA (the
    system's when none is given), no verification only when the kubeconfig says so, a client
    certificate when it has one."""
    tls = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    if not verify:
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    if cert_file and key_file:
        tls.load_cert_chain(cert_file, key_file)
    return tls


def retry_later(status: int | None) -> bool:
    """The world's fault: no answer at all (None), throttled (429) or a server error (5xx).
    The same request may well succeed in a while."""
    return status is None or status == 429 or status >= 500


def rejected(status: int | None) -> bool:
    """The request's fault: give up (park it, tell the user) instead of retrying."""
    return status in REJECTED
