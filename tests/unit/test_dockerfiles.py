"""The Dockerfiles, read (no Docker engine runs here): each service's image is built in two stages
from pyproject.toml + constraints.txt, copies only files that exist and that .dockerignore lets
through, runs its own package as a non-root user, and only the converter's carries ffmpeg."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import site
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
import yaml

from devstack.config import ROOT, Config

DOCKER = ROOT / "docker"
# service -> (its package, how the image starts it)
SERVICES = {
    "auth": "auth",
    "gateway": "gateway",
    "operator": "conversion_operator",
    "notification": "notification",
    "converter": "converter_job",
}
HTTP_SERVICES = {"auth", "gateway", "operator"}  # a HEALTHCHECK makes sense for these
BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "clang", "libc6-dev", "python3-dev")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a Dockerfile; continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif keyword == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def dockerfile(service: str) -> Path:
    return DOCKER / f"{service}.Dockerfile"


def ignored(path: str) -> bool:
    """Is `path` (relative to the build context, the repository root) excluded by .dockerignore?"""
    result = False
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", "")) for p in prefixes
        ):
            result = not negate
    return result


def copy_sources(stage: Stage) -> list[str]:
    sources = []
    for args in stage.all("COPY"):
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        sources += words[:-1]
    return sources


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_service_is_built_in_two_stages_on_slim_python_311(service: str) -> None:
    _, stages = parse(dockerfile(service))

    assert len(stages) >= 2
    assert all(re.fullmatch(r"python:3\.11-slim(-\w+)?", s.base) for s in stages), [s.base for s in stages]
    builder = stages[0]
    assert builder.name == "builder"
    assert copy_sources(builder)[:2] == ["pyproject.toml", "constraints.txt"]
    assert any("pip wheel" in run and "-c constraints.txt" in run for run in builder.all("RUN"))
    assert stages[-1].all("COPY") == ["--from=builder /opt/venv /opt/venv"]  # no wheels, no sources


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_copied_file_exists_and_reaches_the_build(service: str) -> None:
    _, stages = parse(dockerfile(service))
    sources = [src for stage in stages for src in copy_sources(stage)]

    assert f"{SERVICES[service]}/" in sources and "common/" in sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not ignored(src.rstrip("/")), f"{src} is excluded by .dockerignore"


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_image_runs_its_own_package_as_a_non_root_user(service: str) -> None:
    _, stages = parse(dockerfile(service))
    final = stages[-1]
    (user,) = final.all("USER")
    uid = user.split(":")[0]

    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    argv = image_cmd(service)
    package = SERVICES[service]
    if argv[0] == "uvicorn":
        module, _, factory = argv[1].partition(":")
        assert module.split(".")[0] == package
        assert f"def {factory}(" in (ROOT / (module.replace(".", "/") + ".py")).read_text()
    else:
        assert argv[:2] == ["python", "-m"] and argv[2] == package
        assert importlib.util.find_spec(f"{package}.__main__") is not None


@pytest.mark.parametrize("service", list(SERVICES))
def test_no_build_tools_in_the_final_image_and_ffmpeg_only_in_the_converters(service: str) -> None:
    _, stages = parse(dockerfile(service))
    final_runs = " ".join(stages[-1].all("RUN"))

    assert not [tool for tool in BUILD_TOOLS if re.search(rf"(^|\s){re.escape(tool)}(\s|$)", final_runs)]
    installs_ffmpeg = re.search(r"apt-get install[^&;]*\bffmpeg\b", final_runs) is not None
    assert installs_ffmpeg is (service == "converter")
    moviepy = any("moviepy" in run for stage in stages for run in stage.all("RUN"))
    assert moviepy is (service == "converter")


@pytest.mark.parametrize("service", list(SERVICES))
def test_http_services_have_a_healthcheck_on_the_port_they_serve(service: str) -> None:
    _, stages = parse(dockerfile(service))
    final = stages[-1]
    checks = final.all("HEALTHCHECK")

    if service not in HTTP_SERVICES:
        assert checks == []
        return
    (check,) = checks
    (port,) = final.all("EXPOSE")
    assert f"127.0.0.1:{port}/healthz" in check


def image_cmd(service: str) -> list[str]:
    _, stages = parse(dockerfile(service))
    (cmd,) = stages[-1].all("CMD")
    return list(json.loads(cmd))


def test_the_chart_and_the_operator_run_the_images_the_way_they_are_built() -> None:
    # Pods name their command themselves (the devstack runs pods as processes and needs one): it
    # must be the image's own CMD (the gateway's may add flags).
    helm = str(Config.from_env().binaries["HELM_BIN"] / "helm")
    out = subprocess.run(
        [helm, "template", "mp4mp3", str(ROOT / "charts" / "mp4mp3"), "--kube-version", "1.34.0"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    deployments = {
        d["metadata"]["name"]: d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"
    }
    for service in ("auth", "gateway", "operator", "notification"):
        (container,) = deployments[f"mp4mp3-{service}"]["spec"]["template"]["spec"]["containers"]
        cmd = image_cmd(service)
        assert container["command"][: len(cmd)] == cmd, service

    from conversion_operator import jobs
    from conversion_operator.settings import Settings

    values: dict[str, Any] = {"namespace": "ns", "amqp_url": "amqp://x", "mongo_uri": "mongodb://x/db"}
    settings = Settings(**values, converter_mongo_secret="s")
    body = {
        "apiVersion": "mp4mp3.io/v1alpha1",
        "kind": "ConversionJob",
        "metadata": {"name": "cj-" + "0" * 24, "namespace": "ns", "uid": "u"},
        "spec": {"source": {}, "owner": {}},
    }
    job = jobs.job(kopf.Body(cast(kopf.RawBody, body)), settings)
    (converter,) = job["spec"]["template"]["spec"]["containers"]
    assert converter["command"] == image_cmd("converter")


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build() -> None:
    for path in (".git", ".venv", ".devstack", "tests", "charts", ".env", "devstack"):
        assert ignored(path), path
    for path in ("pyproject.toml", "constraints.txt", "common", *SERVICES.values()):
        assert not ignored(path), path


# Imports the image's entry module and every module of its package with nothing on sys.path but the
# folders the Dockerfile copies and the installed dependencies (the repository's editable install,
# which would map every package back to this checkout, is left out by not processing .pth files).
IMPORT_IN_IMAGE = """
import importlib, pkgutil, sys
sys.path[:] = [sys.argv[1], *[p for p in sys.path if p], *sys.argv[4:]]
entry, package = sys.argv[2], sys.argv[3]
importlib.import_module(entry)
for module in pkgutil.walk_packages([f"{sys.argv[1]}/{package}"], prefix=f"{package}."):
    importlib.import_module(module.name)
"""


def entry_module(service: str) -> str:
    argv = image_cmd(service)
    if argv[0] == "uvicorn":
        return argv[1].partition(":")[0]
    return f"{argv[2]}.__main__"  # python -m PACKAGE


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_image_holds_everything_its_package_imports(service: str, tmp_path: Path) -> None:
    _, stages = parse(dockerfile(service))
    for src in (s.rstrip("/") for stage in stages for s in copy_sources(stage)):
        if (ROOT / src).is_dir():
            (tmp_path / src).symlink_to(ROOT / src, target_is_directory=True)

    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            IMPORT_IN_IMAGE,
            str(tmp_path),
            entry_module(service),
            SERVICES[service],
            *site.getsitepackages(),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr.strip().splitlines()[-1:]
