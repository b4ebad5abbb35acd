"""Each image built from docker/*.Dockerfile starts the way a cluster starts it: its package imports
with the image's own Python as uid 10001 on a read-only root (runc, as containerd runs it, with
every capability dropped and an emptyDir-like /tmp), and the HTTP services answer their health
endpoint, or, where settings demand a server, their app factory builds."""

from __future__ import annotations

import json
import socket
import subprocess
import textwrap
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devstack import images
from devstack.config import Config
from devstack.process import wait_until

pytestmark = pytest.mark.slow  # a cold build of every image takes many minutes

PACKAGES = {
    "auth": "auth",
    "gateway": "gateway",
    "operator": "conversion_operator",
    "notification": "notification",
    "converter": "converter_job",
}
UID = 10001

# Imports every module of the package (as the service would, lazily or not) and reports who ran
# it and whether the root filesystem took a write.
IMPORT_ALL = textwrap.dedent(
    """
    import importlib, json, os, pkgutil, sys
    package = importlib.import_module(sys.argv[1])
    modules = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)  # __main__ modules only run under their guard
        modules.append(info.name)
    try:
        open("/written-by-the-test", "w").close()
        root = "writable"
    except OSError as exc:
        root = exc.strerror
    print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "root": root, "modules": modules,
                      "python": sys.version.split()[0], "executable": sys.executable}))
    """
)


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    """{service: image ref}, built here (or found by their input digest), not imported."""
    return images.ensure_images(Config.from_env(), load=False)


@pytest.mark.parametrize("service", list(PACKAGES))
def test_every_module_imports_as_uid_10001_on_a_read_only_root(
    built: dict[str, str], tmp_path: Path, service: str
) -> None:
    with container(built[service], tmp_path, ["python", "-c", IMPORT_ALL, PACKAGES[service]]) as run:
        proc = run.wait()

    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["uid"] == UID and report["gid"] == UID
    assert report["root"] == "Read-only file system"
    assert report["python"].startswith("3.11.") and report["executable"] == "/opt/venv/bin/python"
    assert f"{PACKAGES[service]}.__main__" in report["modules"] or service in ("auth", "gateway")


def test_auth_answers_health_with_no_database_reachable(built: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {
        "AUTH_MYSQL_URL": "mysql://nobody:nothing@127.0.0.1:1/auth",  # refused: auth serves anyway
        "AUTH_KEYS_DIR": "/tmp/keys",
        "AUTH_GENERATE_KEYS": "true",
    }
    argv = cmd(built["auth"])  # the image's CMD on a port of the test's choosing
    argv[argv.index("--port") + 1] = str(port)

    with container(built["auth"], tmp_path, argv, env=env) as run:
        wait_until(lambda: health(port) or run.exited(), 60, "auth's /healthz")
        answer = health(port)

    assert answer is not None and answer["status"] == "ok", run.output()


@pytest.mark.parametrize(
    ("service", "env", "factory"),
    [
        # the gateway opens MongoDB and RabbitMQ when it starts serving: its factory builds
        (
            "gateway",
            {
                "GATEWAY_MONGO_URI": "mongodb://127.0.0.1:1/mp4mp3",
                "GATEWAY_AMQP_URL": "amqp://127.0.0.1:1/",
                "GATEWAY_AUTH_URL": "http://127.0.0.1:1",
                "GATEWAY_JWKS_URL": "http://127.0.0.1:1/.well-known/jwks.json",
                "GATEWAY_JWT_ISSUER": "mp4mp3-auth",
                "GATEWAY_JWT_AUDIENCE": "mp4mp3",
                "GATEWAY_NAMESPACE": "ns",
                "GATEWAY_PUBLIC_URL": "http://127.0.0.1:1",
            },
            "from gateway.app import create_app; print(type(create_app()).__name__)",
        ),
        # the operator's health endpoint is Kopf's, served once it has logged in to the API server
        (
            "operator",
            {
                "OPERATOR_NAMESPACE": "ns",
                "OPERATOR_AMQP_URL": "amqp://x/",
                "OPERATOR_MONGO_URI": "mongodb://x/db",
                "OPERATOR_CONVERTER_MONGO_URI": "mongodb://x/db",
            },
            "from conversion_operator import handlers; from conversion_operator.settings import get_settings;"
            "print(type(get_settings()).__name__)",
        ),
    ],
)
def test_services_needing_their_servers_build_their_app_from_settings(
    built: dict[str, str], tmp_path: Path, service: str, env: dict[str, str], factory: str
) -> None:
    with container(built[service], tmp_path, ["python", "-c", factory], env=env) as run:
        proc = run.wait()

    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_converter_encodes_mp3_with_debians_ffmpeg_and_with_moviepy(
    built: dict[str, str], tmp_path: Path
) -> None:
    # both engines, as uid 10001 on the read-only root, writing only to /tmp (the work dir)
    script = """
    set -e
    ffmpeg -v error -f lavfi -i sine=frequency=440:duration=2 -f lavfi -i color=size=64x64:duration=2 \\
        -shortest -c:v mpeg4 -c:a aac /tmp/in.mp4
    ffmpeg -v error -i /tmp/in.mp4 -vn -c:a libmp3lame /tmp/ffmpeg.mp3
    python -c "from moviepy import AudioFileClip
    AudioFileClip('/tmp/in.mp4').write_audiofile('/tmp/moviepy.mp3', logger=None)"
    for f in /tmp/ffmpeg.mp3 /tmp/moviepy.mp3; do
        ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$f"
    done
    """
    with container(built["converter"], tmp_path, ["sh", "-c", textwrap.dedent(script)]) as run:
        proc = run.wait()

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["mp3", "mp3"]


def test_images_sit_within_their_size_budget(built: dict[str, str]) -> None:
    cfg = Config.from_env()
    sizes = {service: images.size(cfg, ref) for service, ref in built.items()}

    assert sizes["converter"] < 600e6, sizes
    assert all(size < 300e6 for service, size in sizes.items() if service != "converter"), sizes


def test_an_unchanged_service_is_neither_rebuilt_nor_retagged(built: dict[str, str]) -> None:
    cfg = Config.from_env()
    base = images.ensure_base(cfg)
    again = images.ensure_service(cfg, "auth", base.ref)

    assert again.ref == built["auth"] and again.build_seconds == 0.0
    assert base.build_seconds == 0.0


# --- running an image the way containerd does -----------------------------------------------------


class Run:
    """A container started by `container`: its process, and its output once it ended."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.done: subprocess.CompletedProcess[str] | None = None

    def wait(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if self.done is None:
            out, err = self.proc.communicate(timeout=timeout)
            self.done = subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
        return self.done

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def output(self) -> str:
        done = self.wait(10) if self.exited() else None
        return f"exit {done.returncode}: {done.stderr[-3000:]}" if done else "still running"


@contextmanager
def container(ref: str, tmp_path: Path, argv: list[str], env: dict[str, str] | None = None) -> Iterator[Run]:
    """Run `argv` in the image with runc: read-only root, the image's user and env, no
    capabilities, /tmp a tmpfs (the chart's emptyDir), the host's network (to reach a port)."""
    cfg = Config.from_env()
    working = images.buildah(cfg, "from", "--pull=never", ref).strip()
    state = tmp_path / "runc"
    name = f"mp4mp3-test-{uuid.uuid4().hex[:8]}"
    runc = ["runc", "--root", str(state)]
    try:
        rootfs = images.buildah(cfg, "mount", working).strip()
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        write_spec(cfg, ref, bundle, rootfs, argv, env or {})
        proc = subprocess.Popen(
            [*runc, "run", "--bundle", str(bundle), name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        run = Run(proc)
        try:
            yield run
        finally:
            if not run.exited():
                subprocess.run([*runc, "kill", name, "KILL"], capture_output=True)
            run.wait(30)
            subprocess.run([*runc, "delete", "--force", name], capture_output=True)
    finally:
        images.buildah(cfg, "rm", working)


def write_spec(
    cfg: Config, ref: str, bundle: Path, rootfs: str, argv: list[str], env: dict[str, str]
) -> None:
    """runc's default spec (read-only root; own PID, IPC, UTS and mount namespaces), made to run
    the image's user and env as the chart's pods do: no capabilities, /tmp an emptyDir."""
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    config = image_config(cfg, ref)
    uid, _, gid = (config.get("User") or "0").partition(":")
    spec["root"] = {"path": rootfs, "readonly": True}
    spec["process"].update(
        terminal=False,
        user={"uid": int(uid), "gid": int(gid or uid)},
        args=argv,
        env=[*(config.get("Env") or []), *(f"{k}={v}" for k, v in env.items())],
        cwd=config.get("WorkingDir") or "/",
        capabilities={kind: [] for kind in ("bounding", "effective", "permitted", "ambient", "inheritable")},
    )
    tmp = {
        "destination": "/tmp",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1777"],
    }
    spec["mounts"].append(tmp)
    # the host's network, so the test reaches a server in the container at 127.0.0.1
    spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"]
    (bundle / "config.json").write_text(json.dumps(spec))


def image_config(cfg: Config, ref: str) -> dict[str, Any]:
    return dict(json.loads(images.buildah(cfg, "inspect", "--type", "image", ref))["OCIv1"]["config"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health(port: int) -> Any:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


def cmd(ref: str) -> list[str]:
    return list(image_config(Config.from_env(), ref)["Cmd"])
