"""The web page in a real headless Chromium against a real gateway, auth, Kubernetes API and
storage. No operator runs here: the test plays it (writes the jobs' status, stores a stand-in MP3),
so the page's live updates are checked without waiting for conversions (tests/e2e/test_page.py
does the same with real ones)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from common.resources import OWNER_LABEL
from devstack.samples import sample_video
from tests.support.browser import Page, chromium, downloaded, named_copy, wait
from tests.support.gateway_harness import GatewayProcess, MiB, mp4_like
from tests.support.gateway_world import GatewayWorld

pytestmark = pytest.mark.devstack

XSS = "<img src=x onerror=alert(1)>.mp4"
PAGE_SIZE = 10  # jobs per page on the page (gateway/static/app.js)
VIDEO = b"".join(mp4_like(MiB // 8)[0])
STAND_IN_MP3 = (
    b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 256
)  # not audio: plays the converter


def test_the_page_follows_uploads_live_downloads_cancels_and_shows_names_as_text_playing_the_operator(
    gateway: GatewayProcess, world: GatewayWorld, tmp_path: Path
) -> None:
    talk = named_copy(sample_video(seconds=3), tmp_path / "in", "talk.mp4")
    silent = named_copy(sample_video(seconds=3, audio=False), tmp_path / "in", XSS)
    # other bytes than talk.mp4: the same bytes with the same options would be Reused at once
    spare = named_copy(sample_video(seconds=4), tmp_path / "in", "spare.mp4")
    with chromium(tmp_path / "ada") as ada_browser, chromium(tmp_path / "bob") as bob_browser:
        ada = Page(ada_browser, gateway.url).open()
        ada.sign_up(f"ada-{secrets.token_hex(4)}@mp4mp3.localhost", secrets.token_urlsafe(12))
        wait("the empty list", lambda: ada.visible("empty"))  # after GET /jobs answers
        ada.screenshot("empty")
        bob = Page(bob_browser, gateway.url).open()
        bob.sign_up_by_keyboard(f"bob-{secrets.token_hex(4)}@mp4mp3.localhost", secrets.token_urlsafe(12))

        ada.choose_option("bitrate", "128k")
        ada.throttle_uploads(150_000)
        ada.upload(talk, silent)
        partial = wait("uploads part way", lambda: [p for p in ada.upload_progress() if 0 < p < 100])
        assert partial  # real progress from the upload's events, not a spinner
        ada.screenshot("uploading")
        ada.throttle_uploads(None)
        ada.wait_phase("talk.mp4", "Pending")
        ada.wait_phase(XSS, "Pending")
        ids = {r["name"]: r["id"] for r in ada.rows()}
        talk_job = world.conversionjob(ids["talk.mp4"])
        assert talk_job is not None
        output = talk_job["spec"]["output"]  # the form sends its other fields' defaults too (H15's)
        assert output["bitrate"] == "128k" and output.get("format", "mp3") == "mp3"

        world.set_status(ids["talk.mp4"], phase="Running", progress=40)
        world.set_status(ids[XSS], phase="Running", progress=10)
        assert ada.wait_phase("talk.mp4", "Running")["phase_text"] == "Running 40%"  # live, no reload
        ada.screenshot("converting")
        owner = talk_job["metadata"]["labels"][OWNER_LABEL]
        world.complete(ids["talk.mp4"], STAND_IN_MP3, owner=owner)
        world.set_status(ids["talk.mp4"], duration="4s")
        world.set_status(
            ids[XSS], phase="Failed", reason="NoAudio", message="The video has no audio stream to convert."
        )
        done = ada.wait_phase("talk.mp4", "Succeeded")
        ada.screenshot("done")
        failed = ada.wait_phase(XSS, "Failed")
        wait("the duration", lambda: "Took 4s." in (ada.row("talk.mp4") or {}).get("detail", ""))
        assert done["download"] == "True" and failed["download"] == "False"
        assert "no audio stream" in failed["detail"]
        ada.screenshot("failed")

        # the name is text: shown as typed, no element made of it, no script run
        assert ada.alert_text() is None
        assert not ada.driver.find_elements("css selector", "#jobs img")

        ada.press("talk.mp4", "download")
        assert downloaded(tmp_path / "ada", "talk.mp3").read_bytes() == STAND_IN_MP3

        ada.upload(spare)
        ada.wait_phase("spare.mp4", "Pending")
        ada.press("spare.mp4", "cancel")
        wait("the cancelled job to leave the list", lambda: ada.row("spare.mp4") is None)
        assert sorted(r["name"] for r in ada.rows()) == sorted([XSS, "talk.mp4"])

        # bob, signed in all along in his own browser, never saw any of it
        assert bob.rows() == [] and bob.visible("empty")
        assert ada.console_errors() == [] and bob.console_errors() == []


def test_old_jobs_are_paged_and_a_job_made_elsewhere_appears_live(
    start_gateway: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    # more pending jobs than the default per-user limit of conversions in progress (nothing runs them)
    gateway = start_gateway(GATEWAY_JOBS_IN_FLIGHT="0")
    with chromium(tmp_path / "downloads") as browser:
        page = Page(browser, gateway.url).open()
        page.sign_up(f"pager-{secrets.token_hex(4)}@mp4mp3.localhost", secrets.token_urlsafe(12))
        cookies = {"mp4mp3_session": browser.get_cookie("mp4mp3_session")["value"]}  # type: ignore[index]
        with httpx.Client(base_url=gateway.url, cookies=cookies, timeout=60) as api:
            csrf = {"X-CSRF-Token": api.get("/session").json()["csrf"]}
            for i in range(PAGE_SIZE + 1):  # the same session, from another tab or a script
                sent = api.post("/jobs", files={"file": (f"part-{i:02}.mp4", VIDEO)}, headers=csrf)
                assert sent.status_code == 202, sent.text
        wait("the newest job live at the top", lambda: (page.rows() or [{}])[0].get("name") == "part-10.mp4")
        assert len(page.rows()) == PAGE_SIZE

        page.by_id("older").click()
        wait("the second page", lambda: [r["name"] for r in page.rows()] == ["part-00.mp4"])
        assert page.by_id("page-info").text == f"{PAGE_SIZE + 1}\u2013{PAGE_SIZE + 1} of {PAGE_SIZE + 1}"
        assert not page.by_id("older").is_enabled()
        page.by_id("newer").click()
        wait("the first page again", lambda: len(page.rows()) == PAGE_SIZE)
        assert page.rows()[0]["name"] == "part-10.mp4" and page.console_errors() == []
