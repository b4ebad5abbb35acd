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
