"""How devstack/images.py decides what to build: the inputs of an image's tag, the host's Debian
mirror, and the per-image dependency lists the Dockerfiles install (no build runs here)."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from devstack import images
from devstack.config import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def name(requirement: str) -> str:
    return re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0].lower()


def test_each_dockerfile_copies_the_project_files_and_its_own_package() -> None:
    assert images.copy_sources(images.DOCKER / "operator.Dockerfile") == [
        "pyproject.toml",
        "constraints.txt",
        "common/",
        "conversion_operator/",
    ]


def test_every_image_installs_a_subset_of_the_projects_pinned_dependencies() -> None:
    lists = PYPROJECT["tool"]["mp4mp3"]["images"]
    allowed = {name(r) for r in PYPROJECT["project"]["dependencies"]}
    pinned = {name(line) for line in (ROOT / "constraints.txt").read_text().split() if "==" in line}

    assert set(lists) == set(images.SERVICES)
    for image, requirements in lists.items():
        extra = {"moviepy"} if image == "converter" else set()
        assert {name(r) for r in requirements} <= allowed | extra, image
        assert {name(r) for r in requirements} <= pinned, image


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A copy of the files the auth image is built from."""
    for src in images.copy_sources(images.DOCKER / "auth.Dockerfile"):
        (shutil.copytree if src.endswith("/") else shutil.copy)(ROOT / src, tmp_path / src)
    return tmp_path


def test_an_images_tag_changes_with_its_code_and_base_but_not_with_bytecode(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "ROOT", context)
    dockerfile = images.DOCKER / "auth.Dockerfile"
    tag = images.service_digest(dockerfile, "base-1")

    (context / "auth" / "__pycache__").mkdir(exist_ok=True)
    (context / "auth" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert images.service_digest(dockerfile, "base-1") == tag
    assert images.service_digest(dockerfile, "base-2") != tag
    (context / "common" / "new.py").write_text("X = 1\n")
    assert images.service_digest(dockerfile, "base-1") != tag


def test_the_base_image_uses_the_hosts_bookworm_mirror(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "a.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
    )
    assert images.host_mirror(tmp_path) == "http://mirror.example/debian"

    (tmp_path / "sources.list.d" / "a.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://old.example/debian bookworm main\n")
    assert images.host_mirror(tmp_path) == "http://old.example/debian"

    (tmp_path / "sources.list").write_text("")
    with pytest.raises(images.ImageError, match="mirror"):
        images.host_mirror(tmp_path)


def test_the_base_image_depends_on_the_host_files_it_copies_and_no_others(tmp_path: Path) -> None:
    (tmp_path / "apt" / "sources.list.d").mkdir(parents=True)
    (tmp_path / "apt" / "apt.conf.d").mkdir()
    (tmp_path / "apt" / "sources.list.d" / "debian.sources").write_text("Types: deb\n")
    (tmp_path / "apt" / "sources.list.d" / "old.list.disabled").write_text("deb http://x/ bookworm main\n")
    (tmp_path / "apt" / "apt.conf.d" / "90proxy").write_text('Acquire::http::Proxy "http://proxy:3128";\n')
    (tmp_path / "apt" / "apt.conf.d" / "50appstream").write_text("Acquire::IndexTargets::deb::DEP-11 {};\n")
    (tmp_path / "apt" / "apt.conf.d" / "20packagekit").write_text('DPkg::Post-Invoke {"true";};\n')

    assert [p.relative_to(tmp_path).as_posix() for p in images.host_inputs(tmp_path)] == [
        "apt/sources.list.d/debian.sources",
        "apt/apt.conf.d/90proxy",
    ]
