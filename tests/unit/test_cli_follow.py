"""How the CLI follows a job: live from the gateway's event stream, polling when there is none.
The gateway is a stand-in (httpx.MockTransport) answering what a real one answers."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from mp4mp3_cli.api import Api
from mp4mp3_cli.convert import Follow, follow

HOW = Follow(poll_seconds=0.01, patience_seconds=1)


def _follow(handler: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    updates: list[dict[str, Any]] = []
    with Api("http://gw", "token", transport=httpx.MockTransport(handler)) as api:
        return follow(api, "cj-1", updates.append, threading.Event(), HOW), updates


def test_a_job_is_followed_from_the_stream_skipping_other_jobs_and_heartbeats() -> None:
    stream = (
        'event: job\ndata: {"id":"cj-0","phase":"Failed"}\n\n'
        ": heartbeat\n\n"
        'event: job\ndata: {"id":"cj-1","phase":"Pending"}\n\n'
        'event: synced\nid: 5\ndata: {"jobs":2}\n\n'
        'id: 6\nevent: job\ndata: {"id":"cj-1","phase":"Running","progress":50}\n\n'
        'id: 7\nevent: job\ndata: {"id":"cj-1","phase":"Succeeded","progress":100}\n\n'
    )

    whole = {"id": "cj-1", "phase": "Succeeded", "progress": 100, "options": {"bitrate": "192k"}}

    def gateway(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer token"
        if request.url.path == "/jobs/cj-1":  # once it ended: the whole job, options and all
            return httpx.Response(200, json=whole)
        assert request.url.path == "/jobs/events"
        return httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})

    job, updates = _follow(gateway)
    assert job == whole
    assert [u["phase"] for u in updates] == ["Pending", "Running", "Succeeded"]


def test_without_a_stream_the_job_is_polled() -> None:
    answers = iter([{"id": "cj-1", "phase": "Running"}, {"id": "cj-1", "phase": "Succeeded"}])

    def older_gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jobs/events":
            return httpx.Response(404, json={"detail": "No job with id events."})
        return httpx.Response(200, json=next(answers))

    job, updates = _follow(older_gateway)
    assert job["phase"] == "Succeeded" and [u["phase"] for u in updates] == ["Running", "Succeeded"]
