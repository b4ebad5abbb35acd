"""Login throttling: when repeated failures lock an email or a client out, and for how long."""

from __future__ import annotations

from datetime import datetime, timedelta

from auth.ratelimit import Counter, Limit, after_failure, seconds_locked

T0 = datetime(2026, 1, 1, 12, 0, 0)
LIMIT = Limit(max_failures=3, window=timedelta(minutes=15), lockout=timedelta(minutes=5))


def _fail(times: int, start: datetime = T0, every: timedelta = timedelta(seconds=1)) -> Counter | None:
    counter = None
    for i in range(times):
        counter = after_failure(counter, start + i * every, LIMIT)
    return counter


def test_failures_below_the_limit_do_not_lock() -> None:
    counter = _fail(2)
    assert counter is not None and counter.failures == 2
    assert seconds_locked(counter, T0 + timedelta(seconds=2)) == 0


def test_reaching_the_limit_locks_for_the_lockout() -> None:
    counter = _fail(3)
    last = T0 + timedelta(seconds=2)
    assert seconds_locked(counter, last) == 300
    assert seconds_locked(counter, last + timedelta(seconds=299, milliseconds=500)) == 1
    assert seconds_locked(counter, last + timedelta(seconds=300)) == 0


def test_failures_spread_beyond_the_window_never_lock() -> None:
    counter = _fail(10, every=timedelta(minutes=16))
    assert counter is not None and counter.failures == 1
    assert seconds_locked(counter, T0 + timedelta(hours=3)) == 0


def test_a_failure_after_the_lockout_but_inside_the_window_locks_again() -> None:
    counter = _fail(3)
    later = T0 + timedelta(minutes=6)
    assert seconds_locked(counter, later) == 0
    counter = after_failure(counter, later, LIMIT)
    assert seconds_locked(counter, later) == 300


def test_the_window_restarts_after_it_expires() -> None:
    counter = _fail(2)
    counter = after_failure(counter, T0 + timedelta(minutes=20), LIMIT)
    assert counter.failures == 1 and counter.window_started == T0 + timedelta(minutes=20)
    assert counter.locked_until is None


def test_nothing_recorded_means_allowed() -> None:
    assert seconds_locked(None, T0) == 0
