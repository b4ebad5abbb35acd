"""The devstack's chart release, as `helm template` renders it with the values the devstack writes:
fixed NodePorts, the local images never pulled, the devstack's servers as the external ones at the
node's address, and a converter work dir that always holds the largest accepted upload."""

from __future__ import annotations

import pytest

from devstack.network import NODE_IP
from devstack.servers import release
from tests.unit.test_chart_render import CHART, Doc, container_env, named, render

IMAGES = {s: f"localhost/mp4mp3/{s}:abc{i}" for i, s in enumerate((*release.DEPLOYMENTS, "converter"))}
DATA_ENV = {
    "MONGO_URI": "mongodb://127.0.0.1:25017/mp4mp3",
    "AMQP_URL": "amqp://mp4mp3:s3cret@127.0.0.1:23672/%2F",
    "MYSQL_URL": "mysql://mp4mp3:pw@127.0.0.1:21306/mp4mp3",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": "20525",
}
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def devstack_render(tmp_path_factory: pytest.TempPathFactory, **overrides: object) -> tuple[Doc, ...]:
    import yaml

    values = release.values(IMAGES, DATA_ENV)
    values.update(overrides)
    path = tmp_path_factory.mktemp("release") / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return render("-f", str(path), namespace=release.NAMESPACE)


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Doc, ...]:
    return devstack_render(tmp_path_factory)


def quantity(value: str) -> int:
    for suffix, factor in UNITS.items():
        if value.endswith(suffix):
            return int(value[: -len(suffix)]) * factor
    return int(value)


def test_gateway_and_auth_are_reached_at_fixed_node_ports(docs: tuple[Doc, ...]) -> None:
    for name, port in (("gateway", release.GATEWAY_NODE_PORT), ("auth", release.AUTH_NODE_PORT)):
        service = named(docs, "Service", f"mp4mp3-{name}")
        assert service["spec"]["type"] == "NodePort"
        assert service["spec"]["ports"][0]["nodePort"] == port
    assert release.gateway_url() == f"http://{NODE_IP}:{release.GATEWAY_NODE_PORT}"


def test_a_cluster_ip_service_gets_no_node_port() -> None:
    for name in ("gateway", "auth"):
        service = named(render(), "Service", f"mp4mp3-{name}")
        assert service["spec"]["type"] == "ClusterIP"
        assert "nodePort" not in service["spec"]["ports"][0]


def test_every_image_is_the_local_build_and_never_pulled(docs: tuple[Doc, ...]) -> None:
    for name in release.DEPLOYMENTS:
        (container,) = named(docs, "Deployment", f"mp4mp3-{name}")["spec"]["template"]["spec"]["containers"]
        assert container["image"] == IMAGES[name]
        assert container["imagePullPolicy"] == "Never"
    operator = named(docs, "ConfigMap", "mp4mp3-operator")["data"]
    assert operator["OPERATOR_CONVERTER_IMAGE"] == IMAGES["converter"]
    assert operator["OPERATOR_CONVERTER_IMAGE_PULL_POLICY"] == "Never"


def test_no_bundled_server_runs_and_pods_use_the_devstacks_at_the_node_address(docs: tuple[Doc, ...]) -> None:
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {
        f"mp4mp3-{name}" for name in release.DEPLOYMENTS
    }
    gateway = container_env(docs, "mp4mp3-gateway")
    assert gateway["GATEWAY_MONGO_URI"] == f"mongodb://{NODE_IP}:25017/mp4mp3"
    assert gateway["GATEWAY_AMQP_URL"] == f"amqp://mp4mp3:s3cret@{NODE_IP}:23672/%2F"
    assert gateway["GATEWAY_PUBLIC_URL"] == release.gateway_url()
    assert container_env(docs, "mp4mp3-auth")["AUTH_MYSQL_URL"] == f"mysql://mp4mp3:pw@{NODE_IP}:21306/mp4mp3"
    notify = container_env(docs, "mp4mp3-notification")
    assert (notify["NOTIFY_SMTP_HOST"], notify["NOTIFY_SMTP_PORT"]) == (NODE_IP, "20525")
    assert notify["NOTIFY_SMTP_STARTTLS"] == "false"


@pytest.mark.parametrize("max_upload", [release.MAX_UPLOAD_BYTES, 4 * 2**30, 10**9 + 1])
def test_the_converter_work_dir_holds_the_largest_upload_and_its_mp3(max_upload: int) -> None:
    docs = render("--set", f"gateway.maxUploadBytes={max_upload}")
    gateway = container_env(docs, "mp4mp3-gateway")
    work_dir = named(docs, "ConfigMap", "mp4mp3-operator")["data"]["OPERATOR_CONVERTER_WORK_DIR_LIMIT"]

    assert int(gateway["GATEWAY_MAX_UPLOAD_BYTES"]) == max_upload
    assert quantity(work_dir) >= 2 * max_upload + 256 * 2**20


def test_the_work_dir_has_no_value_of_its_own_to_disagree_with() -> None:
    assert "workDirSizeLimit" not in (CHART / "values.yaml").read_text()


def test_a_pod_reaches_a_loopback_server_at_the_node_address_and_others_unchanged() -> None:
    assert release.pod_visible("amqp://u:p@127.0.0.1:5672/%2F") == f"amqp://u:p@{NODE_IP}:5672/%2F"
    assert release.pod_visible("mongodb://db.example.com:27017/x") == "mongodb://db.example.com:27017/x"


def test_an_image_reference_splits_into_repository_and_tag() -> None:
    assert release.split_ref("localhost/mp4mp3/gateway:0123") == {
        "repository": "localhost/mp4mp3/gateway",
        "tag": "0123",
    }
    with pytest.raises(ValueError):
        release.split_ref("localhost:5000/mp4mp3/gateway")
