"""Services meet only through common/: no service package imports another's (each image copies its
own folder and common/, nothing else), and common/ imports no service. Every import statement
counts, also those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devstack.config import ROOT

SERVICES = ("auth", "gateway", "conversion_operator", "converter_job", "notification", "mp4mp3_cli")
SHARED = "common"


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a module imports (relative imports stay in their own package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def foreign_imports(package: str) -> list[str]:
    """`file: package` for each import of another service's package from ``package``."""
    others = set(SERVICES) - {package}
    return [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(imported_packages(path) & others)
    ]


@pytest.mark.parametrize("package", [*SERVICES, SHARED])
def test_a_package_imports_no_other_services_package(package: str) -> None:
    assert foreign_imports(package) == []


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\ndef f():\n    from converter_job.exit_codes import OK\n    import gateway.app\n"
    )
    assert imported_packages(module) == {"os", "converter_job", "gateway"}


OURS = (*SERVICES, SHARED, "devstack", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Our modules that ``path`` imports, anywhere in it (``from pkg import name`` counts as pkg.name
    when that is a module of ours, else as pkg)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found & known


def import_cycles() -> list[list[str]]:
    """Every cycle in the import graph of our packages (module -> modules it imports)."""
    paths = {module_name(p): p for pkg in OURS for p in sorted((ROOT / pkg).rglob("*.py"))}
    known = set(paths)
    graph = {name: sorted(imported_modules(path, known) - {name}) for name, path in paths.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for nxt in graph[name]:
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return cycles


def test_no_module_of_ours_imports_itself_through_others() -> None:
    """Import cycles hidden inside functions (converter_job.convert <-> moviepy_engine, devstack.stack
    <-> devstack.servers.services) made the order of imports matter; there are none."""
    assert import_cycles() == []
