"""docs/k9s/: the plugins, aliases and hotkeys are well-formed for k9s and point at our CRD.
(They are run for real against the devstack in tests/integration/chart/test_k9s_plugins.py.)"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from devstack.config import ROOT

K9S = ROOT / "docs" / "k9s"
PLUGIN_KEYS = {
    "shortCut", "override", "description", "confirm", "dangerous", "scopes", "command", "background",
    "overwriteOutput", "args", "inputs",
}  # fmt: skip
PLUGINS = yaml.safe_load((K9S / "plugins.yaml").read_text())["plugins"]


def crd() -> dict:
    return yaml.safe_load((ROOT / "crds" / "conversionjobs.mp4mp3.io.yaml").read_text())


def test_plugins_have_the_fields_k9s_reads_and_distinct_shortcuts() -> None:
    assert set(PLUGINS) == {"mp4mp3-logs", "mp4mp3-retry", "mp4mp3-download"}
    for name, plugin in PLUGINS.items():
        assert set(plugin) <= PLUGIN_KEYS, name
        assert {"shortCut", "description", "scopes", "command"} <= set(plugin), name
        assert plugin["scopes"] == [crd()["spec"]["names"]["plural"]], name
    shortcuts = [p["shortCut"] for p in PLUGINS.values()]
    assert len(set(shortcuts)) == len(shortcuts)
    assert PLUGINS["mp4mp3-retry"]["confirm"] is True  # it starts a conversion again


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_plugin_scripts_are_valid_bash(name: str) -> None:
    plugin = PLUGINS[name]
    assert plugin["command"] == "bash" and plugin["args"][0] == "-c"

    result = subprocess.run(["bash", "-n", "-c", plugin["args"][1]], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr


def test_the_cj_alias_opens_conversionjobs() -> None:
    aliases = yaml.safe_load((K9S / "aliases.yaml").read_text())["aliases"]
    names = crd()["spec"]
    (version,) = [v["name"] for v in names["versions"] if v["storage"]]
    gvr = f"{names['group']}/{version}/{names['names']['plural']}"

    assert aliases["cj"] == gvr
    assert aliases["cvj"] == gvr


def test_the_hotkey_uses_the_alias() -> None:
    hotkeys = yaml.safe_load((K9S / "hotkeys.yaml").read_text())["hotKeys"]
    aliases = yaml.safe_load((K9S / "aliases.yaml").read_text())["aliases"]

    assert {h["command"] for h in hotkeys.values()} <= set(aliases)
