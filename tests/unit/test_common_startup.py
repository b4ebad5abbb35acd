"""A service started without its settings says so in one log line and exits with its own code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("package", "code"), [("conversion_operator", 2), ("notification", 2), ("converter_job", 1)]
)
def test_a_service_without_its_settings_exits_with_one_settings_invalid_line(package: str, code: int) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}

    result = subprocess.run(
        [sys.executable, "-m", package], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "event=settings.invalid" in lines[0] and "level=error" in lines[0]
