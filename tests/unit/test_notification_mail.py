"""The notification emails: what a user reads in each part, and which addresses are refused."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage

import pytest

from common import links
from common.events import ConversionFailed, ConversionSucceeded, JobRef, Owner
from notification.mail import (
    DEFAULT_ADVICE,
    FALLBACK_EXPLANATION,
    InvalidRecipient,
    MailSettings,
    compose,
    download_url,
    human_size,
)

CFG = MailSettings(sender="mp4mp3 <no-reply@mp4mp3.example>", public_url="https://mp3.example.com/api/")
JOB = "cj-65a1b2c3d4e5f60718293a4b"


def succeeded(**overrides: object) -> ConversionSucceeded:
    fields: dict = {
        "event_id": "11111111-2222-3333-4444-555555555555",
        "job": JobRef(name=JOB, namespace="mp4mp3", uid="u1"),
        "owner": Owner(user_id="7", email="ann@example.com"),
        "source_filename": "Holiday <2024> & friends.mp4",
        "mp3_id": "65a1b2c3d4e5f60718293a4c",
        "mp3_size": 4_200_000,
        "audio_seconds": 205.4,
    }
    return ConversionSucceeded(**{**fields, **overrides})


def failed(**overrides: object) -> ConversionFailed:
    fields: dict = {
        "event_id": "99999999-2222-3333-4444-555555555555",
        "job": JobRef(name=JOB, namespace="mp4mp3", uid="u1"),
        "owner": Owner(user_id="7", email="ann@example.com"),
        "source_filename": "silent.mp4",
        "reason": "NoAudioStream",
        "message": "The video has no audio track to convert.",
    }
    return ConversionFailed(**{**fields, **overrides})


def parts(msg: EmailMessage) -> tuple[str, str]:
    """The text and HTML bodies as a mail client shows them (after a round trip through bytes)."""
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_success_mail_names_the_video_and_links_the_download_in_both_parts() -> None:
    msg = compose(succeeded(), CFG)
    text, html = parts(msg)
    url = f"https://mp3.example.com/api/jobs/{JOB}/mp3"
    assert msg["To"] == "ann@example.com"
    assert msg["From"] == CFG.sender
    assert msg["Subject"] == "Your MP3 is ready: Holiday <2024> & friends.mp4"
    assert url in text and f'href="{url}"' in html
    assert "Holiday <2024> & friends.mp4" in text
    assert "Holiday &lt;2024&gt; &amp; friends.mp4" in html  # escaped, not markup
    assert "3m25s of audio, 4.2 MB" in text and "3m25s of audio, 4.2 MB" in html


def test_success_mail_without_size_or_duration_has_no_empty_parentheses() -> None:
    text, _ = parts(compose(succeeded(mp3_size=None, audio_seconds=None), CFG))
    assert "is now an MP3." in text and "()" not in text


def test_failure_mail_explains_the_reason_and_what_to_do_without_a_download_link() -> None:
    msg = compose(failed(), CFG)
    text, html = parts(msg)
    assert msg["Subject"] == "We could not convert silent.mp4"
    for body in (text, html):
        assert "The video has no audio track to convert." in body
        assert "sound track" in body  # the advice for NoAudioStream
        assert "/mp3" not in body
        assert JOB in body


def test_failure_with_an_unknown_reason_and_no_message_still_reads_as_a_sentence() -> None:
    text, html = parts(compose(failed(reason="SomethingNew", message="  "), CFG))
    for body in (text, html):
        assert FALLBACK_EXPLANATION in body and DEFAULT_ADVICE in body


def test_message_id_is_stable_per_event_so_a_resend_is_recognisable() -> None:
    first = compose(succeeded(), CFG, now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    again = compose(succeeded(), CFG)
    assert first["Message-ID"] == again["Message-ID"] == f"<{succeeded().event_id}@mp4mp3.example>"
    assert first["X-Mp4mp3-Job"] == JOB


def test_control_characters_in_a_filename_cannot_inject_headers() -> None:
    msg = compose(succeeded(source_filename="a.mp4\r\nBcc: victim@example.com"), CFG)
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"]
    assert b"\nBcc:" not in msg.as_bytes()


def test_a_very_long_filename_is_shortened_in_the_subject_only() -> None:
    name = "x" * 300 + ".mp4"
    msg = compose(succeeded(source_filename=name), CFG)
    assert len(msg["Subject"]) < 120 and msg["Subject"].endswith("…")
    assert name in parts(msg)[0]


@pytest.mark.parametrize(
    "address", ["not-an-address", "", "ann@example.com\r\nBcc: x@y.z", "Ann <ann@example.com>"]
)
def test_unusable_owner_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidRecipient):
        compose(succeeded(owner=Owner(user_id="7", email=address)), CFG)


def test_download_url_joins_base_and_job_whatever_the_trailing_slash() -> None:
    assert download_url("http://h:1", JOB) == download_url("http://h:1/", JOB) == f"http://h:1/jobs/{JOB}/mp3"


@pytest.mark.parametrize(
    ("size", "text"), [(999, "999 bytes"), (1500, "1.5 kB"), (4_200_000, "4.2 MB"), (3 * 10**9, "3.0 GB")]
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_with_a_link_secret_the_download_link_is_signed_for_that_job_and_owner() -> None:
    secret = "s" * 40
    cfg = MailSettings(CFG.sender, CFG.public_url, link_secret=secret, link_ttl_seconds=3600)
    now = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)

    text, html = parts(compose(succeeded(), cfg, now=now))

    url = next(line for line in text.splitlines() if line.startswith("https://"))
    assert url.startswith(f"https://mp3.example.com/api/jobs/{JOB}/mp3?link=")
    token = url.split("link=", 1)[1]
    assert links.verify(token, secret=secret, job=JOB, leeway=10**9) == "7"
    with pytest.raises(links.InvalidLink, match="another job"):
        links.verify(token, secret=secret, job="cj-0000", leeway=10**9)
    assert "works without logging in until 01 December 2026, 10:30 UTC" in text
    assert "works without logging in until 01 December 2026, 10:30 UTC" in html and url in html


def test_without_a_link_secret_the_link_asks_to_log_in() -> None:
    text, _ = parts(compose(succeeded(), CFG))
    lines = text.splitlines()
    assert "Download it here (log in with the account you uploaded it from):" in lines
    assert f"https://mp3.example.com/api/jobs/{JOB}/mp3" in lines


def test_success_mail_follows_the_format() -> None:
    msg = compose(succeeded(audio_format="flac"), CFG)
    text, html = parts(msg)
    assert msg["Subject"] == "Your FLAC file is ready: Holiday <2024> & friends.mp4"
    assert "is now a FLAC file (" in text and "Download the FLAC file" in html
    assert compose(succeeded(audio_format="m4a"), CFG)["Subject"].startswith("Your M4A is ready")
