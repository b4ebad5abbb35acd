"""Every log event the services emit is named ``noun.verb`` and listed in docs/operations.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "gateway", "notification", "conversion_operator", "converter_job", "common")
NOUN_VERB = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")


def logged_events() -> dict[str, str]:
    """Each literal event name in the services' code, with a file that logs it: ``kv(event=...)``
    and the consumer handlers' ``Ack("...")`` (the consumer loop logs those)."""
    found: dict[str, str] = {}
    for package in SERVICES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                called = getattr(node.func, "id", getattr(node.func, "attr", ""))
                values = [kw.value for kw in node.keywords if called == "kv" and kw.arg == "event"]
                values += node.args[:1] if called == "Ack" else []
                for value in values:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.setdefault(value.value, str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_the_services_events() -> None:
    events = logged_events()
    assert {"job.accepted", "login.failed", "message.parked", "mail.sent", "mp3.stored"} <= set(events)


def test_every_event_is_named_noun_dot_verb() -> None:
    wrong = {name: path for name, path in logged_events().items() if not NOUN_VERB.fullmatch(name)}
    assert wrong == {}


def test_every_event_is_documented_for_operators() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = {name: path for name, path in logged_events().items() if f"`{name}`" not in docs}
    assert missing == {}
