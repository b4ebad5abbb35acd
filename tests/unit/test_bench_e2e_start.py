"""When the bench e2e counts a converter pod as started if the watch saw it Running only after its
MP3 was stored (pure): the kubelet's record of the container's start, never later than the MP3 nor
earlier than its Job was first seen."""

from __future__ import annotations

import datetime as dt

from bench.e2e.run import container_start

DONE = dt.datetime(2026, 12, 1, 8, 0, 5, 400_000, tzinfo=dt.UTC).timestamp()  # the MP3 stored
SEEN = dt.datetime(2026, 12, 1, 8, 0, 1, 700_000, tzinfo=dt.UTC).timestamp()  # its Job first seen


def test_the_containers_recorded_start_is_taken() -> None:
    started = container_start({"container_started": "2026-12-01T08:00:02Z"}, SEEN, DONE)
    assert started == dt.datetime(2026, 12, 1, 8, 0, 2, tzinfo=dt.UTC).timestamp()
    assert round(DONE - started, 3) == 3.4  # the pod's run is kept, not zeroed


def test_a_start_in_the_same_second_as_the_mp3_is_not_after_it() -> None:
    # startedAt has whole seconds; one rounded into the MP3's second still is no later than it
    assert container_start({"container_started": "2026-12-01T08:00:05Z"}, SEEN, DONE) <= DONE
    assert container_start({"container_started": "2026-12-01T08:00:06Z"}, SEEN, DONE) == DONE


def test_without_a_record_the_mp3s_moment_is_the_bound() -> None:
    assert container_start({}, SEEN, DONE) == DONE
    assert container_start({"container_started": None}, SEEN, DONE) == DONE


def test_a_start_truncated_to_before_the_job_was_seen_is_the_moment_it_was_seen() -> None:
    # startedAt 08:00:01 may mean 08:00:01.9: a container of a Job first seen at 08:00:01.7 started no earlier
    started = container_start({"container_started": "2026-12-01T08:00:01Z"}, SEEN, DONE)
    assert started == SEEN
    assert SEEN <= started <= DONE
