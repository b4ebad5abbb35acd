"""The devstack cluster's certificates and keys: a CA, the API server's serving cert, client
certs for each component, and the service-account signing key. Generated once, kept in state."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack.network import KUBERNETES_SERVICE_IP, NODE_IP

VALIDITY = dt.timedelta(days=3650)
API_SERVER_NAMES = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]
# loopback, the `kubernetes` Service, and the node's bridge (pods reach the apiserver and kubelet there)
API_SERVER_IPS = ["127.0.0.1", KUBERNETES_SERVICE_IP, NODE_IP]
# metrics-server's serving certificate: the API server checks it against the name of the Service
# its APIService names (kube-system/metrics-server); it listens on the node's bridge
METRICS_SERVER_SERVING = "metrics-server-serving"
METRICS_SERVER_NAMES = ["metrics-server", "metrics-server.kube-system", "metrics-server.kube-system.svc"]


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _name(common: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


class PKI:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.folder / name

    def ensure(self, clients: dict[str, tuple[str, str | None]]) -> None:
        """Create whatever is missing. ``clients``: file stem -> (CN, O)."""
        if not self.path("ca.crt").exists():
            self._ca()
        if not self._serves_all_ips("apiserver"):
            self._leaf("apiserver", _name("kube-apiserver"), server=True)
        if not self._serves_all_ips("kubelet"):  # the kubelet's API (logs, exec) on NODE_IP
            self._leaf("kubelet", _name("system:node:devstack"), server=True)
        if not self.path(f"{METRICS_SERVER_SERVING}.crt").exists():
            name = _name("metrics-server")
            self._leaf(METRICS_SERVER_SERVING, name, server=True, names=METRICS_SERVER_NAMES, ips=[NODE_IP])
        for stem, (cn, org) in clients.items():
            if not self.path(f"{stem}.crt").exists():
                self._leaf(stem, _name(cn, org), server=False)
        if not self.path("sa.key").exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _write_key(self.path("sa.key"), key)
            self.path("sa.pub").write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )

    def _serves_all_ips(self, stem: str) -> bool:
        """Is there a serving cert with every address of API_SERVER_IPS (older ones lack NODE_IP)?"""
        if not self.path(f"{stem}.crt").exists():
            return False
        cert = x509.load_pem_x509_certificate(self.path(f"{stem}.crt").read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
        return set(API_SERVER_IPS) <= have

    def _ca(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("mp4mp3-devstack-ca"))
            .issuer_name(_name("mp4mp3-devstack-ca"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_key(self.path("ca.key"), key)
        self.path("ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _leaf(
        self,
        stem: str,
        subject: x509.Name,
        server: bool,
        names: list[str] = API_SERVER_NAMES,
        ips: list[str] = API_SERVER_IPS,
    ) -> None:
        ca_key = serialization.load_pem_private_key(self.path("ca.key").read_bytes(), None)
        ca_cert = x509.load_pem_x509_certificate(self.path("ca.crt").read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
            sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        _write_key(self.path(f"{stem}.key"), key)
        self.path(f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def kubeconfig(
    server: str,
    ca: Path,
    user: str,
    cert: Path | None = None,
    key: Path | None = None,
    token: str | None = None,
    namespace: str = "default",
) -> dict:
    """A kubeconfig (as a dict, write it with yaml) for one user of the devstack cluster."""
    creds: dict[str, str] = {}
    if cert and key:
        creds = {"client-certificate": str(cert), "client-key": str(key)}
    if token:
        creds = {"token": token}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "mp4mp3-devstack", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": user, "user": creds}],
        "contexts": [
            {
                "name": "mp4mp3-devstack",
                "context": {"cluster": "mp4mp3-devstack", "user": user, "namespace": namespace},
            }
        ],
        "current-context": "mp4mp3-devstack",
    }
