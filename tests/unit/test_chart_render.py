"""The Helm chart as rendered by `helm template` (no cluster): lint, values and their schema,
secrets, security contexts, probes, and the settings it gives each service are the ones the
service reads. The API server's verdict is in tests/integration/chart/."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.config import ROOT, Config

CHART = ROOT / "charts" / "mp4mp3"
KUBE_VERSION = "1.34.0"
VALUES_SETS = {
    "default": (),
    "bundled": ("-f", str(CHART / "ci" / "bundled-values.yaml")),
    "external": ("-f", str(CHART / "ci" / "external-values.yaml")),
    "monitoring": ("-f", str(CHART / "ci" / "monitoring-values.yaml")),
}
OUR_SERVICES = {"auth": "AUTH_", "gateway": "GATEWAY_", "operator": "OPERATOR_", "notification": "NOTIFY_"}
Doc = dict[str, Any]


@cache
def helm() -> str:
    return str(Config.from_env().binaries["HELM_BIN"] / "helm")


def helm_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True)


@cache
def render(*args: str, namespace: str = "media") -> tuple[Doc, ...]:
    proc = helm_run("template", "mp4mp3", str(CHART), "-n", namespace, "--kube-version", KUBE_VERSION, *args)
    assert proc.returncode == 0, proc.stderr
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def render_error(*args: str) -> str:
    proc = helm_run("template", "mp4mp3", str(CHART), "--kube-version", KUBE_VERSION, *args)
    assert proc.returncode != 0, "the chart rendered"
    return proc.stderr


def named(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def workloads(docs: tuple[Doc, ...]) -> list[tuple[str, Doc]]:
    """(name, pod spec) of every Deployment, StatefulSet and Pod."""
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            out.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
        elif d["kind"] == "Pod":
            out.append((d["metadata"]["name"], d["spec"]))
    return out


def secret_data(docs: tuple[Doc, ...], name: str) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in named(docs, "Secret", name)["data"].items()}


# --- lint and render ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_helm_lint_is_clean(values: str) -> None:
    proc = helm_run("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *VALUES_SETS[values])

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout
    assert not re.search(r"\[(WARNING|ERROR)\]", proc.stdout), proc.stdout


def test_the_default_install_bundles_every_server() -> None:
    docs = render()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}

    for server in ("mongodb", "rabbitmq", "mysql"):
        assert ("StatefulSet", f"mp4mp3-{server}") in kinds
        sts = named(docs, "StatefulSet", f"mp4mp3-{server}")
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    for service in ("auth", "gateway", "operator", "notification", "mailpit"):
        assert ("Deployment", f"mp4mp3-{service}") in kinds


def test_the_external_install_runs_no_server_of_its_own() -> None:
    docs = render(*VALUES_SETS["external"])

    assert [d for d in docs if d["kind"] == "StatefulSet"] == []
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {
        f"mp4mp3-{s}" for s in OUR_SERVICES
    }


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_every_object_has_the_standard_labels_and_the_release_namespace(values: str) -> None:
    for doc in render(*VALUES_SETS[values]):
        labels = doc["metadata"]["labels"]
        for key in ("name", "instance", "component", "part-of", "managed-by", "version"):
            assert f"app.kubernetes.io/{key}" in labels, (doc["kind"], doc["metadata"]["name"], key)
        assert doc["metadata"]["namespace"] == "media"


def test_a_release_named_otherwise_prefixes_every_name() -> None:
    proc = helm_run("template", "convert", str(CHART), "--kube-version", KUBE_VERSION)
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(proc.stdout) if d]

    assert names and all(n.startswith("convert-mp4mp3-") for n in names)


# --- values and their schema -------------------------------------------------------------------


def test_a_typo_in_the_values_fails_the_install() -> None:
    assert "replicas" in render_error("--set", "gateway.replicas=3")
    assert "pasword" in render_error("--set", "mongodb.auth.pasword=x")
    assert "logLevel" in render_error("--set", "logLevel=LOUD")


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [
            p for key, value in node.items() for p in _leaf_paths(value, f"{prefix}.{key}" if prefix else key)
        ]
    return [prefix]


def test_every_value_has_a_comment() -> None:
    text = (CHART / "values.yaml").read_text()
    documented = set(re.findall(r"^\s*## @param (\S+) \S", text, re.MULTILINE))
    leaves = _leaf_paths(yaml.safe_load(text))

    undocumented = [p for p in leaves if not any(p == d or p.startswith(d + ".") for d in documented)]
    assert undocumented == []
    unknown = [d for d in documented if not any(p == d or p.startswith(d + ".") for p in leaves)]
    assert unknown == []


FREE_FORM = ("affinity", "seccompProfile", "seLinuxOptions", "appArmorProfile", "valueFrom")


def test_the_schema_rejects_unknown_keys_at_every_level() -> None:
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    loose: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object" and not path.endswith(FREE_FORM):
            extra = node.get("additionalProperties")
            if extra is not False and not (isinstance(extra, dict) and extra.get("type") == "string"):
                loose.append(path or "<root>")
        for key, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{key}" if path else key)
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + "[]")

    walk(schema, "")
    assert loose == []


def test_the_schema_and_the_readme_table_are_generated_from_the_values() -> None:
    """values.schema.json and the README's parameter table are what `make chart-schema` makes from
    values.yaml's `## @param` comments (plus the overlay's constraints), so neither can drift from
    the values: a value added without its comment, or a schema edited by hand, fails here."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "charts" / "values_schema.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- secrets -----------------------------------------------------------------------------------


def test_no_password_has_a_default() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    paths = _leaf_paths(values)
    with_defaults = []
    for path in paths:
        if re.search(r"(password|secret|token|key)$", path, re.IGNORECASE) and not path.endswith(
            ("existingSecret", "Key", "secretName")
        ):
            node: Any = values
            for part in path.split("."):
                node = node[part]
            if node:
                with_defaults.append(path)
    assert with_defaults == []


def test_bundled_passwords_are_generated_per_install() -> None:
    first = secret_data(render(namespace="one"), "mp4mp3-mongodb")
    second = secret_data(render(namespace="two"), "mp4mp3-mongodb")

    assert first["mongodb-password"] != second["mongodb-password"]
    assert len(first["mongodb-password"]) >= 32
    assert first["mongodb-root-password"] != first["mongodb-password"]
    assert first["mongodb-password"] in first["mongodb-uri"]


def test_external_servers_need_credentials_said_plainly() -> None:
    assert "set externalMongodb.uri or externalMongodb.existingSecret" in render_error(
        "--set", "mongodb.enabled=false"
    )
    assert "set externalMysql.url or externalMysql.existingSecret" in render_error(
        "--set", "mysql.enabled=false"
    )
    assert "notification.smtp.host" in render_error("--set", "mailpit.enabled=false")
    assert "notification.smtp.password or notification.smtp.existingSecret" in render_error(
        "--set", "notification.smtp.host=smtp.example.com", "--set", "notification.smtp.user=me"
    )


CREDENTIAL_ENV = re.compile(r"(MONGO_URI|AMQP_URL|MYSQL_URL|PASSWORD)$")


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_nothing_secret_is_in_a_configmap_or_a_plain_env_value(values: str) -> None:
    docs = render(*VALUES_SETS[values])
    for cm in (d for d in docs if d["kind"] == "ConfigMap"):
        for key, value in cm["data"].items():
            assert not CREDENTIAL_ENV.search(key), (cm["metadata"]["name"], key)
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), (cm["metadata"]["name"], key)
            assert "PRIVATE KEY" not in value
    for name, pod in workloads(docs):
        for container in pod["containers"]:
            for env in container.get("env", []):
                if CREDENTIAL_ENV.search(env["name"]) or env["name"].endswith("_PASS"):
                    assert "secretKeyRef" in env.get("valueFrom", {}), (name, env["name"])


def test_a_chosen_password_survives_the_trip_through_every_url() -> None:
    from urllib.parse import urlsplit

    import pika
    from pymongo.uri_parser import parse_uri

    from auth.database import parse_mysql_url

    odd = "sp ace&amp/:@%+?#"
    docs = render(
        "--set-string", f"mysql.auth.password={odd}",
        "--set-string", f"mongodb.auth.password={odd}",
        "--set-string", f"rabbitmq.auth.password={odd}",
    )  # fmt: skip

    assert parse_mysql_url(secret_data(docs, "mp4mp3-mysql")["mysql-url"])["password"] == odd
    assert parse_uri(secret_data(docs, "mp4mp3-mongodb")["mongodb-uri"])["password"] == odd
    amqp = secret_data(docs, "mp4mp3-rabbitmq")["amqp-url"]
    assert pika.URLParameters(amqp).credentials.password == odd
    assert urlsplit(amqp).path == "/%2F"


def test_the_generated_jwt_key_is_what_auth_signs_with(tmp_path: Path) -> None:
    from auth.keys import load_ring

    data = secret_data(render(), "mp4mp3-auth-jwt")
    (name, pem), = data.items()  # fmt: skip
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
    (tmp_path / name).write_text(pem)

    ring = load_ring(tmp_path)

    assert ring.signer.source.endswith(name)
    assert ring.jwks()["keys"][0]["alg"] == "RS256"


def test_an_existing_jwt_secret_replaces_the_generated_one() -> None:
    docs = render("--set", "auth.jwt.existingSecret=my-keys")
    auth = named(docs, "Deployment", "mp4mp3-auth")["spec"]["template"]["spec"]

    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "mp4mp3-auth-jwt"]
    assert [v["secret"]["secretName"] for v in auth["volumes"] if "secret" in v] == ["my-keys"]


# --- pods --------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_every_container_is_locked_down(values: str) -> None:
    for name, pod in workloads(render(*VALUES_SETS[values])):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is (name in ("mp4mp3-gateway", "mp4mp3-operator")), name
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name


def test_long_running_containers_have_probes() -> None:
    docs = render()
    for name, pod in workloads(docs):
        if name in ("mp4mp3-notification",) or pod.get("restartPolicy") == "Never":
            continue  # a queue consumer with no HTTP endpoint; the helm test pods
        (container,) = pod["containers"]
        assert "readinessProbe" in container and "livenessProbe" in container, name
    auth = named(docs, "Deployment", "mp4mp3-auth")["spec"]["template"]["spec"]["containers"][0]
    assert auth["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert auth["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_the_gateway_has_a_disruption_budget_only_when_it_can_honour_it() -> None:
    assert named(render(), "PodDisruptionBudget", "mp4mp3-gateway")["spec"]["minAvailable"] == 1
    assert not [d for d in render("--set", "gateway.replicaCount=1") if d["kind"] == "PodDisruptionBudget"]


def test_the_ingress_serves_the_host_over_tls_and_links_use_it() -> None:
    docs = render(*VALUES_SETS["external"])
    ingress = named(docs, "Ingress", "mp4mp3-gateway")["spec"]

    assert ingress["tls"] == [{"hosts": ["convert.example.com"], "secretName": "mp4mp3-gateway-tls"}]
    assert [p["path"] for p in ingress["rules"][0]["http"]["paths"]] == ["/"]  # exposeSignup false
    assert (
        named(docs, "ConfigMap", "mp4mp3-gateway")["data"]["GATEWAY_PUBLIC_URL"]
        == "https://convert.example.com"
    )


def test_the_operator_is_safe_with_two_replicas() -> None:
    docs = render("--set", "operator.replicaCount=2")
    operator = named(docs, "Deployment", "mp4mp3-operator")
    env = operator["spec"]["template"]["spec"]["containers"][0]["env"]

    assert operator["spec"]["replicas"] == 2
    peer = next(e for e in env if e["name"] == "OPERATOR_PEER_ID")
    assert peer["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"  # one identity per replica
    assert named(docs, "ConfigMap", "mp4mp3-operator")["data"]["OPERATOR_PEERING_NAME"] == "mp4mp3-operator"
    assert (CHART / "crds" / "kopfpeerings.kopf.dev.yaml").is_file()


def test_converter_settings_reach_the_operator() -> None:
    data = named(render(*VALUES_SETS["bundled"]), "ConfigMap", "mp4mp3-operator")["data"]

    assert data["OPERATOR_CONVERTER_IMAGE"] == "mp4mp3/converter:dev"
    assert data["OPERATOR_CONVERTER_SERVICE_ACCOUNT"] == "mp4mp3-converter"
    assert data["OPERATOR_DEFAULT_ENGINE"] == "moviepy"
    assert data["OPERATOR_CONVERTER_CPU_LIMIT"] == ""  # no CPU limit
    assert data["OPERATOR_CONVERTER_MONGO_SECRET"] == "mp4mp3-mongodb"
    assert "OPERATOR_CONVERTER_SERVICE_ACCOUNT" not in named(render(), "ConfigMap", "mp4mp3-operator")["data"]


# --- the settings each service is given are the ones it reads ----------------------------------


def container_env(docs: tuple[Doc, ...], deployment: str) -> dict[str, str]:
    """The env a Deployment's container starts with: ConfigMaps, Secrets and the downward API resolved."""
    (container,) = named(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(named(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secret_data(docs, ref["name"])[ref["key"]]
        else:
            env[item["name"]] = "pod-name"  # fieldRef
    return env


def _settings_class(service: str) -> Any:
    import importlib

    module = {"operator": "conversion_operator"}.get(service, service)
    return importlib.import_module(f"{module}.settings").Settings


def _env_names(settings_class: Any, prefix: str) -> set[str]:
    names = set()
    for field, info in settings_class.model_fields.items():
        names.add(f"{prefix}{field}".upper())
        alias = info.validation_alias
        for choice in getattr(alias, "choices", [alias]):
            if isinstance(choice, str):
                names.add(choice.upper())
    return names


@pytest.mark.parametrize("service", list(OUR_SERVICES))
def test_every_setting_the_chart_gives_is_one_the_service_reads(service: str) -> None:
    prefix = OUR_SERVICES[service]
    env = container_env(render(), f"mp4mp3-{service}")
    known = _env_names(_settings_class(service), prefix)

    ignored = [name for name in env if (name.startswith(prefix) or name == "LOG_LEVEL") and name not in known]
    assert ignored == []


@pytest.mark.parametrize("service", list(OUR_SERVICES))
def test_each_service_starts_with_the_charts_settings(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(OUR_SERVICES[service]) or name in ("LOG_LEVEL", "KUBECONFIG"):
            monkeypatch.delenv(name)
    for name, value in container_env(render(), f"mp4mp3-{service}").items():
        monkeypatch.setenv(name, value)

    settings = _settings_class(service)()  # raises on a missing or malformed setting

    if service in ("gateway", "operator"):
        assert settings.namespace == "media"
    if service == "gateway":
        assert str(settings.jwks_url) == "http://mp4mp3-auth:8080/.well-known/jwks.json"
        assert settings.kubeconfig is None  # in-cluster: the pod's ServiceAccount


def test_a_rotated_key_named_as_docs_operations_says_signs_and_the_old_one_stays_published(
    tmp_path: Path,
) -> None:
    from auth.keys import load_ring

    (old_name, old_pem), = secret_data(render(), "mp4mp3-auth-jwt").items()  # fmt: skip
    (tmp_path / old_name).write_text(old_pem)
    old_kid = load_ring(tmp_path).signer.kid
    subprocess.run(  # the command of docs/operations.md
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:3072",
            "-out",
            "jwt-0002.pem",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )

    ring = load_ring(tmp_path)

    assert ring.signer.source.endswith("jwt-0002.pem")
    assert {k.kid for k in ring.keys} == {old_kid, ring.signer.kid}
    assert "jwt-0002.pem" in (ROOT / "docs" / "operations.md").read_text()
