"""End to end in a real browser: a person on the web page signs up, uploads two videos (one
without audio), watches both reach their end live, downloads the MP3, cancels a job; names are
text; another person's session sees none of it. Saves the page's main states as screenshots when
$MP4MP3_SCREENSHOTS names a folder (`make screenshots` refreshes docs/screenshots/)."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from devstack.samples import probe_codec, probe_duration, sample_video
from tests.support.browser import Page, chromium, downloaded, named_copy, wait

pytestmark = [pytest.mark.devstack, pytest.mark.e2e]

XSS = "<img src=x onerror=alert(1)>.mp4"


def test_a_person_converts_videos_on_the_web_page(urls: dict[str, str], tmp_path: Path) -> None:
    gateway = urls["gateway"]
    talk_video = sample_video(seconds=12)
    talk = named_copy(talk_video, tmp_path / "in", "talk.mp4")
    silent = named_copy(sample_video(seconds=3, audio=False), tmp_path / "in", XSS)
    spare = named_copy(sample_video(seconds=30), tmp_path / "in", "spare.mp4")
    with (
        chromium(tmp_path / "ada", secure_origin=gateway) as ada_browser,
        chromium(tmp_path / "bob", secure_origin=gateway) as bob_browser,
    ):
        bob = Page(bob_browser, gateway).open()
        bob.sign_up(f"bob-{secrets.token_hex(4)}@mp4mp3.localhost", secrets.token_urlsafe(12))
        ada = Page(ada_browser, gateway).open()
        ada.sign_up(f"ada-{secrets.token_hex(4)}@mp4mp3.localhost", secrets.token_urlsafe(12))
        wait("the empty list", lambda: ada.visible("empty"))  # after GET /jobs answers
        ada.screenshot("empty")

        ada.throttle_uploads(200_000)
        ada.upload(talk, silent)
        wait("uploads part way", lambda: [p for p in ada.upload_progress() if 0 < p < 100])
        ada.screenshot("uploading")
        ada.throttle_uploads(None)
        wait("both jobs listed", lambda: len(ada.rows()) == 2, timeout=60)
        wait("a conversion under way", lambda: any(r["phase"] != "Pending" for r in ada.rows()), timeout=180)
        ada.screenshot("converting")

        done = ada.wait_phase("talk.mp4", "Succeeded", timeout=300)  # live: the page is never reloaded
        assert done["download"] == "True" and done["progress"] == "100"
        ada.screenshot("done")
        failed = ada.wait_phase(XSS, "Failed", timeout=300)
        assert "audio" in failed["detail"].lower() and failed["download"] == "False"
        ada.screenshot("failed")
        assert ada.alert_text() is None and not ada.driver.find_elements("css selector", "#jobs img")

        # Retry runs the stored video again: a new series of attempts, which fails again (no audio)
        ada.press(XSS, "retry")
        wait("the retried job to leave Failed", lambda: (r := ada.row(XSS)) and r["phase"] != "Failed")
        again = ada.wait_phase(XSS, "Failed", timeout=300)
        assert "audio" in again["detail"].lower()
        cookie = {"mp4mp3_session": ada.driver.get_cookie("mp4mp3_session")["value"]}  # type: ignore[index]
        retried = httpx.get(f"{gateway}/jobs/{failed['id']}", cookies=cookie).json()
        assert (retried["phase"], retried["retries"]) == ("Failed", 1), retried

        ada.press("talk.mp4", "download")
        mp3 = downloaded(tmp_path / "ada", "talk.mp3")
        assert probe_codec(mp3) == "mp3"
        assert abs(probe_duration(mp3) - probe_duration(talk_video)) < 0.15

        ada.upload(spare)
        row = wait("the spare job listed", lambda: ada.row("spare.mp4"), timeout=60)
        ada.press("spare.mp4", "cancel")
        wait("the cancelled job to leave the list", lambda: ada.row("spare.mp4") is None)
        session = {"mp4mp3_session": ada.driver.get_cookie("mp4mp3_session")["value"]}  # type: ignore[index]
        gone = wait(
            "the cancelled job to be gone",
            lambda: httpx.get(f"{gateway}/jobs/{row['id']}", cookies=session).status_code == 404,
            timeout=60,
        )
        assert gone

        assert bob.rows() == [] and bob.visible("empty")
        assert ada.console_errors() == [] and bob.console_errors() == []
