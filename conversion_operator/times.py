"""Times as the ConversionJob's status writes them: RFC 3339 in UTC to the second, and the
``duration`` column (kubectl's style, common.durations)."""

from __future__ import annotations

import datetime as dt

from common.durations import human_duration


def duration(started: str | None, finished: str | None, now: dt.datetime) -> str | None:
    if not started:
        return None
    end = parse_time(finished) if finished else now
    return human_duration((end - parse_time(started)).total_seconds())


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
