"""Each image holds what its service imports: every package of ours that the service reaches is
copied by its Dockerfile, and every third-party module it reaches comes with a distribution that its
list in pyproject.toml ([tool.mp4mp3.images]) installs, or that one of those needs. Two broken
images were found only on the node so far (the operator without converter_job, notification
without pyjwt); this finds such a gap before any image is built. Imports inside functions count."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devstack.config import ROOT
from tests.unit.test_import_boundaries import OURS, imported_modules, module_name

IMAGES = {
    "auth": "auth",
    "gateway": "gateway",
    "operator": "conversion_operator",
    "notification": "notification",
    "converter": "converter_job",
}


def copied_packages(image: str) -> set[str]:
    """The packages of ours a Dockerfile copies (``COPY pkg/ pkg/``)."""
    text = (ROOT / "docker" / f"{image}.Dockerfile").read_text()
    return set(re.findall(r"^COPY (\w+)/ \1/\s*$", text, re.MULTILINE))


def reached_modules(package: str) -> set[str]:
    """Our modules the service's package reaches through imports, its own included."""
    paths = {module_name(p): p for pkg in OURS for p in sorted((ROOT / pkg).rglob("*.py"))}
    known = set(paths)
    todo = [name for name in paths if name.split(".")[0] == package]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in known)
        todo.extend(imported_modules(paths[name], known))
    return seen


# imported only where the image's service never goes: {image: {module: why}}
NEVER_RUN = {
    "converter": {"kubernetes": "common.kube.load_configuration, which the converter does not call"},
}


def run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """The nodes of a module, less the bodies of ``if TYPE_CHECKING:`` (never run)."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def third_party_imports(modules: set[str]) -> dict[str, str]:
    """{top-level module: the first of our modules that imports it} for what is neither ours nor
    the standard library's."""
    found: dict[str, str] = {}
    for name in sorted(modules):
        path = ROOT / Path(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in run_time_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                if top not in sys.stdlib_module_names and top not in OURS and top != "__future__":
                    found.setdefault(top, name)
    return found


def installed_distributions(requirements: list[str]) -> set[str]:
    """The distributions pip installs for ``requirements``: them, with their extras, and all that
    they need (read from the metadata of this venv, where constraints.txt pinned the same ones)."""
    todo = [Requirement(r) for r in requirements]
    done: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in done and not req.extras:
            continue
        done.add(name)
        for dep in metadata.requires(req.name) or []:
            needed = Requirement(dep)
            envs = [{"extra": extra} for extra in req.extras] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(env) for env in envs):
                todo.append(needed)
    return done


def test_the_walk_follows_imports_into_common() -> None:
    reached = reached_modules("conversion_operator")
    assert "conversion_operator.handlers" in reached and "common.resources" in reached
    assert not any(name.startswith("gateway") for name in reached)


def test_pyjwt_with_crypto_brings_cryptography() -> None:
    assert {"pyjwt", "cryptography"} <= installed_distributions(["pyjwt[crypto]"])
    assert "cryptography" not in installed_distributions(["pyjwt"])


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_image_copies_every_package_of_ours_its_service_reaches(image: str) -> None:
    reached = {name.split(".")[0] for name in reached_modules(IMAGES[image])}
    assert reached - copied_packages(image) == set()


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_image_installs_every_module_its_service_imports(image: str) -> None:
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mp4mp3"]["images"][image]
    installed = installed_distributions(listed)
    providers = metadata.packages_distributions()  # top-level module -> the distributions with it
    missing = {
        f"{module} (imported by {where})"
        for module, where in third_party_imports(reached_modules(IMAGES[image])).items()
        if not {canonicalize_name(d) for d in providers.get(module, [module])} & installed
        and module not in NEVER_RUN.get(image, {})
    }
    assert missing == set()
