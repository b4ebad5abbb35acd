"""Download links (common/links.py): honoured for their job until they expire, refused otherwise."""

from __future__ import annotations

import time

import jwt
import pytest

from common import links

SECRET = "a-download-link-secret-of-40-bytes-long!"
NOW = int(time.time()) - 3600  # an hour ago


def test_a_link_names_its_owner_for_its_job_only() -> None:
    token = links.sign(secret=SECRET, job="cj-1", owner="u7", ttl_seconds=600)
    assert links.verify(token, secret=SECRET, job="cj-1") == "u7"
    with pytest.raises(links.InvalidLink, match="another job"):
        links.verify(token, secret=SECRET, job="cj-2")


def test_expired_forged_and_foreign_links_are_refused() -> None:
    expired = links.sign(secret=SECRET, job="cj-1", owner="u7", ttl_seconds=60, now=NOW)
    forged = links.sign(secret=SECRET[::-1], job="cj-1", owner="u7", ttl_seconds=600)
    access_token_like = jwt.encode({"aud": "mp4mp3", "sub": "u7", "job": "cj-1"}, SECRET, algorithm="HS256")
    with pytest.raises(links.InvalidLink, match="expired"):
        links.verify(expired, secret=SECRET, job="cj-1")
    for token in (forged, access_token_like, "not-a-jwt"):
        with pytest.raises(links.InvalidLink, match="not valid"):
            links.verify(token, secret=SECRET, job="cj-1")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        links.sign(secret="short", job="cj-1", owner="u7", ttl_seconds=60)
