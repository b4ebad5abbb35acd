"""The pure parts of live events and the page's session: a job from its ConversionJob alone, the
event format, resume points, CSRF tokens, the options form described from the model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway import live, page, session
from gateway.k8s import KubeUnavailable
from gateway.options import FIELDS
from gateway.watch import Change, Expired, _change

RESOURCE: dict[str, Any] = {
    "metadata": {"name": "cj-1", "creationTimestamp": "2026-12-01T00:00:00Z", "resourceVersion": "42"},
    "spec": {"source": {"filename": "<img src=x onerror=alert(1)>.mp4", "size": 10, "sha256": "ab"}},
    "status": {"phase": "Queued", "progress": 0, "queue": {"position": 3, "reason": "UserCapReached"}},
}


def test_a_job_event_shows_what_get_jobs_id_shows() -> None:
    view = live.resource_view(RESOURCE, "http://gw")
    assert view["id"] == "cj-1" and view["url"] == "http://gw/jobs/cj-1"
    assert (view["phase"], view["progress"], view["queue"]["position"]) == ("Queued", 0, 3)
    assert view["filename"] == "<img src=x onerror=alert(1)>.mp4" and view["download"] is None
    done = live.resource_view({**RESOURCE, "status": {"phase": "Succeeded"}}, "http://gw")
    assert done["progress"] == 100 and done["download"] == "http://gw/jobs/cj-1/mp3"
    new = live.resource_view({"metadata": {"name": "cj-2"}}, "http://gw")
    assert (new["phase"], new["message"], new["deleting"]) == ("Pending", "Waiting to start.", False)


def test_events_are_single_line_json_with_their_id() -> None:
    text = live.sse("job", {"name": "two\nlines"}, "7")
    assert text == 'id: 7\nevent: job\ndata: {"name":"two\\nlines"}\n\n'
    lines = text.splitlines()
    assert json.loads(lines[2].removeprefix("data: ")) == {"name": "two\nlines"}


def test_only_resource_versions_are_resume_points() -> None:
    assert live.resume_point("12345") == "12345"
    assert live.resume_point(" 9 ") == "9"
    for bad in (None, "", "abc", "1; drop", "9" * 40):
        assert live.resume_point(bad) is None


def test_the_csrf_token_belongs_to_its_session_and_is_needed_only_to_change_things() -> None:
    token = session.csrf_token("jwt-a")
    assert token != session.csrf_token("jwt-b") and "jwt-a" not in token
    assert session.csrf_ok("GET", "jwt-a", None)
    assert session.csrf_ok("POST", "jwt-a", token) and session.csrf_ok("DELETE", "jwt-a", token)
    assert not session.csrf_ok("POST", "jwt-a", None)
    assert not session.csrf_ok("DELETE", "jwt-a", session.csrf_token("jwt-b"))
    secure = session.cookie_attributes("https://mp3.example.com", 900)
    assert secure["httponly"] and secure["samesite"] == "strict" and secure["secure"]
    assert not session.cookie_attributes("http://127.0.0.1:8000", 900)["secure"]


def test_the_options_form_offers_every_field_the_upload_accepts() -> None:
    fields = {f["name"]: f for f in page.form_fields()}
    assert set(fields) == set(FIELDS)
    assert fields["bitrate"]["kind"] == "select" and "192k" in fields["bitrate"]["choices"]
    assert (fields["quality"]["min"], fields["quality"]["max"]) == (0, 9)
    assert fields["engine"]["choices"] == ["ffmpeg", "moviepy"] and fields["engine"]["default"] == "ffmpeg"
    assert fields["notifyEmail"]["kind"] == "checkbox" and fields["notifyEmail"]["default"] is True
    assert "unsafe-inline" not in page.CSP and "script-src 'self'" in page.CSP


def test_watch_errors_say_whether_to_start_over_or_wait() -> None:
    assert _change({"type": "MODIFIED", "object": RESOURCE}).resource_version == "42"
    with pytest.raises(Expired):
        _change({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}})
    with pytest.raises(KubeUnavailable):
        _change({"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "boom"}})


class _StandInWatch:
    """Plays the API server's list and watch for one owner (pure logic under test: the stream)."""

    def __init__(self, changes: list[Change], expire_first: bool = False) -> None:
        self._changes = changes
        self._expire_first = expire_first
        self.watched_from: list[str] = []

    async def snapshot(self) -> tuple[list[dict[str, Any]], str]:
        return [RESOURCE], "40"

    async def changes(self, since: str) -> AsyncIterator[Change]:
        self.watched_from.append(since)
        if self._expire_first:
            self._expire_first = False
            raise Expired(since)
        for change in self._changes:
            yield change
        await asyncio.sleep(3600)  # then nothing happens


async def _read(watch: Any, last_id: str | None, count: int, **kw: Any) -> list[str]:
    got: list[str] = []
    async for item in live.stream(watch, "http://gw", last_id, **kw):
        got.append(item)
        if len(got) == count:
            break
    return got


def test_a_stream_snapshots_then_follows_and_heartbeats_when_idle_with_a_stand_in_api_server() -> None:
    done = {
        **RESOURCE,
        "metadata": {**RESOURCE["metadata"], "resourceVersion": "43"},
        "status": {"phase": "Succeeded"},
    }
    watch = _StandInWatch(
        [Change("MODIFIED", done), Change("BOOKMARK", {"metadata": {"resourceVersion": "50"}})]
    )
    got = asyncio.run(_read(watch, None, 6, heartbeat=0.05))
    assert got[0] == "retry: 3000\n\n"
    assert got[1].startswith("event: job\n") and "id:" not in got[1]  # the snapshot: no resume point
    assert got[2].startswith("id: 40\nevent: synced\n")
    assert got[3].startswith("id: 43\nevent: job\n") and '"phase":"Succeeded"' in got[3]
    assert got[4] == "id: 50\n\n" and got[5] == ": heartbeat\n\n"
    assert watch.watched_from == ["40"]


def test_a_resume_too_old_resets_and_a_stream_ends_with_its_token_with_a_stand_in_api_server() -> None:
    watch = _StandInWatch([], expire_first=True)
    got = asyncio.run(_read(watch, "7", 4, heartbeat=0.05))
    assert [g.split("\n")[0] for g in got[1:4]] == ["event: reset", "event: job", "id: 40"]
    assert watch.watched_from == ["7", "40"]

    ended = asyncio.run(
        asyncio.wait_for(_read(_StandInWatch([]), None, 100, heartbeat=0.05, seconds_left=0.3), 5)
    )
    assert ended[-1].startswith(": heartbeat") or ended[-1].startswith("id: 40")  # then it ended by itself
