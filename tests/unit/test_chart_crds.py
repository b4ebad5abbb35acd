"""The chart installs the very CRDs of crds/ (its crds/ is a link to them, not a copy that drifts)."""

from __future__ import annotations

import subprocess

import yaml

from devstack.config import ROOT, Config

CHART_CRDS = ROOT / "charts" / "mp4mp3" / "crds"
CRDS = ROOT / "crds"


def test_the_charts_crds_are_the_repositorys_crds() -> None:
    ours = {p.name: p.read_bytes() for p in CHART_CRDS.glob("*.yaml")}
    theirs = {p.name: p.read_bytes() for p in CRDS.glob("*.yaml")}

    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []


def test_the_charts_crds_folder_links_to_crds() -> None:
    # a link, so that there is nothing to keep in step by hand
    assert CHART_CRDS.is_symlink()
    assert CHART_CRDS.resolve() == CRDS.resolve()


def test_helm_ships_every_crd() -> None:
    helm = str(Config.from_env().binaries["HELM_BIN"] / "helm")
    out = subprocess.run(
        [
            helm,
            "template",
            "mp4mp3",
            str(ROOT / "charts" / "mp4mp3"),
            "--include-crds",
            "--kube-version",
            "1.34.0",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    shipped = {
        d["metadata"]["name"]
        for d in yaml.safe_load_all(out)
        if d and d["kind"] == "CustomResourceDefinition"
    }
    expected = {
        d["metadata"]["name"] for p in CRDS.glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d
    }

    assert shipped == expected
    assert "conversionjobs.mp4mp3.io" in shipped
