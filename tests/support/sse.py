"""A Server-Sent Events client for tests: reads a stream in a thread, parses its events, and
lets a test wait for the one it expects."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    event: str
    data: Any
    id: str | None


@dataclass
class EventStream:
    """``GET url`` as an event stream, read in a thread from ``open()`` until ``close()``."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    events: queue.Queue[Event] = field(default_factory=queue.Queue)
    seen: list[Event] = field(default_factory=list)
    status: int | None = None
    comments: int = 0
    last_id: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _opened: threading.Event = field(default_factory=threading.Event)
    _response: httpx.Response | None = None

    def open(self) -> EventStream:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(30), f"no answer from {self.url}"
        return self

    def close(self) -> None:
        self._stop.set()
        if self._response is not None:
            self._response.close()  # unblocks the reading thread
        if self._thread is not None:
            self._thread.join(10)

    def next(self, match: Callable[[Event], bool] = lambda e: True, timeout: float = 30) -> Event:
        """The next event that matches (others are skipped but kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event within {timeout}s; seen: {self.seen[-10:]}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if match(event):
                return event

    def _read(self) -> None:
        try:
            self._read_stream()
        except (httpx.HTTPError, RuntimeError, ValueError):
            if not self._stop.is_set():
                raise
        finally:
            self._opened.set()

    def _read_stream(self) -> None:
        headers = {"Accept": "text/event-stream", **self.headers}
        with (
            httpx.Client(timeout=httpx.Timeout(60, read=120), cookies=self.cookies) as http,
            http.stream("GET", self.url, headers=headers) as resp,
        ):
            self.status = resp.status_code
            self._response = resp
            self._opened.set()
            if resp.status_code != 200:
                resp.read()
                return
            fields: dict[str, str] = {}
            for line in resp.iter_lines():
                if self._stop.is_set():
                    return
                self._line(line, fields)

    def _line(self, line: str, fields: dict[str, str]) -> None:
        if line == "":
            if "id" in fields:
                self.last_id = fields["id"]
            if "data" in fields:
                event = Event(fields.get("event", "message"), json.loads(fields["data"]), fields.get("id"))
                self.seen.append(event)
                self.events.put(event)
            fields.clear()
        elif line.startswith(":"):
            self.comments += 1
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
