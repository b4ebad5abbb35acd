"""The per-user limit rule (gateway/limits.py ``decide``): which limit refuses, in which words."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.limits import Usage, decide
from gateway.settings import Settings
from gateway.uploads import FORM_OVERHEAD, UploadRejected
from tests.support.gateway_harness import gateway_settings

MiB = 1024 * 1024


def _settings(**limits: Any) -> Settings:
    no_limits = {"storage_quota_bytes": 0, "jobs_in_flight": 0, "uploads_per_hour": 0}
    return gateway_settings(max_upload_bytes=100 * MiB, **{**no_limits, **limits})


def _usage(stored: int = 0, in_flight: int | None = 0, recent: int = 0, minutes_ago: float = 10) -> Usage:
    return Usage(stored, in_flight, recent, dt.timedelta(minutes=minutes_ago) if recent else None)


def test_without_limits_the_upload_cap_applies() -> None:
    room = decide(_usage(stored=10**12, in_flight=99, recent=99), _settings(), declared=None)
    assert room.max_bytes == 100 * MiB and room.too_large == "The video is larger than the limit of 100 MiB."


def test_the_hourly_limit_says_when_to_come_back() -> None:
    with pytest.raises(UploadRejected) as caught:
        decide(_usage(recent=3, minutes_ago=50), _settings(uploads_per_hour=3), declared=None)
    assert caught.value.status_code == 429 and caught.value.retry_after == 600
    assert "the limit is 3 per hour. Try again in 600 seconds." in caught.value.detail


def test_jobs_in_flight_count_only_when_known() -> None:
    with pytest.raises(UploadRejected, match="You have 2 conversions in progress; the limit is 2"):
        decide(_usage(in_flight=2), _settings(jobs_in_flight=2), declared=None)
    # the API server could not be asked: the upload is not refused for it
    assert decide(_usage(in_flight=None), _settings(jobs_in_flight=2), declared=None).max_bytes == 100 * MiB


def test_the_quota_left_bounds_the_upload_and_a_declared_size_beyond_it_is_refused_at_once() -> None:
    settings = _settings(storage_quota_bytes=30 * MiB)
    room = decide(_usage(stored=20 * MiB), settings, declared=None)
    assert room.max_bytes == 10 * MiB and room.too_large.startswith("Your storage quota is 30 MiB")
    with pytest.raises(UploadRejected) as caught:
        decide(_usage(stored=20 * MiB), settings, declared=10 * MiB + FORM_OVERHEAD + 1)
    assert caught.value.status_code == 413 and caught.value.close
    with pytest.raises(UploadRejected, match="30 MiB of it is used"):
        decide(_usage(stored=30 * MiB), _settings(storage_quota_bytes=20 * MiB), declared=None)


def test_a_declared_size_over_the_cap_names_the_cap_not_the_quota() -> None:
    with pytest.raises(UploadRejected, match="larger than the limit of 100 MiB"):
        decide(_usage(), _settings(storage_quota_bytes=10**12), declared=200 * MiB)
