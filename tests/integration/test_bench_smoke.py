"""`python -m bench --smoke` still runs every benchmark end to end and writes its report.

No performance is asserted here (CI machines are noisy); only that each benchmark measured what
it says it measures, so the scripts don't rot between real `make bench` runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import SECTIONS
from devstack.config import ROOT
from devstack.stack import Stack

# beside the other tests (not serial): nothing here reads a measurement's value, only that each
# section measured what it should; make bench, on a quiet machine, is where the numbers are read
pytestmark = [pytest.mark.devstack]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke(devstack: Stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    reports = list(out.glob("*.json"))
    assert len(reports) == 1, reports
    return json.loads(reports[0].read_text()), reports[0], done.stdout


def test_smoke_report_has_every_section_without_errors(smoke: tuple[dict[str, Any], Path, str]) -> None:
    record, _, _ = smoke
    assert record["smoke"] is True
    assert list(record["sections"]) == list(SECTIONS)
    for name, section in record["sections"].items():
        assert "error" not in section, f"{name}: {section.get('error')}"
        assert section["load_average"]["before"] and section["load_average"]["after"]


def test_conversion_measures_every_contender(smoke: tuple[dict[str, Any], Path, str]) -> None:
    medians = smoke[0]["sections"]["conversion"]["results"]["medians"]
    assert medians, "no input measured"
    for contenders in medians.values():
        assert set(contenders) == {"converter", "ffmpeg", "moviepy", "lame"}
        for name, numbers in contenders.items():
            assert numbers["wall"] > 0 and numbers["cpu"] > 0, name
            assert numbers["peak_tree_rss_mb"] > 0, name
        assert contenders["ffmpeg"]["cpu_vs_ffmpeg"] == 1.0


def test_e2e_follows_a_job_from_upload_to_email(smoke: tuple[dict[str, Any], Path, str]) -> None:
    batches = smoke[0]["sections"]["e2e"]["results"]
    (batch,) = batches.values()
    assert batch["emailed"] == batch["jobs"] == batch["complete_timelines"] == 1
    (timeline,) = batch["timelines"]
    moments = ["upload_done", "cr_created", "job_created", "pod_started", "conversion_done", "cr_succeeded"]
    assert [timeline[m] for m in moments] == sorted(timeline[m] for m in moments), timeline
    assert timeline["email_sent"] >= timeline["cr_succeeded"]
    assert batch["overhead"]["p50"] is not None


def test_auth_and_gateway_sections_are_reported(smoke: tuple[dict[str, Any], Path, str]) -> None:
    sections = smoke[0]["sections"]
    assert [op["operation"] for op in sections["auth"]["results"]["operations"]] == ["login", "validate"]
    assert all(op["errors"] == 0 for op in sections["auth"]["results"]["operations"])
    gateway = sections["gateway"]
    assert gateway.get("skipped") or gateway.get("results")


def test_report_files_and_summary_lines(smoke: tuple[dict[str, Any], Path, str]) -> None:
    record, path, stdout = smoke
    assert path.with_suffix(".md").read_text().startswith(f"# mp4mp3 benchmarks, {record['date']}")
    assert path.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    assert record["targets"], "no target evaluated"
    for target in record["targets"]:
        line = next((li for li in stdout.splitlines() if target["name"] in li), None)
        assert line is not None, f"no summary line for {target['name']}"
        assert line.split()[0] in ("MET", "NOT", "NO")


def test_audio_measures_every_option_against_plain_mp3(smoke: tuple[dict[str, Any], Path, str]) -> None:
    (medians,) = smoke[0]["sections"]["audio"]["results"]["medians"].values()
    assert list(medians) == ["mp3", "mp3+cover", "mp3+loudness", "m4a", "m4a-copy", "opus", "flac"]
    assert all(m["cpu"] > 0 and m["mb"] > 0 for m in medians.values())
    assert medians["mp3"]["cpu_vs_mp3"] == 1.0
    assert medians["flac"]["mb"] > medians["mp3"]["mb"]  # lossless is larger
