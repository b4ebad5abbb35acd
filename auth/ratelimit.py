"""Login and signup throttling: after too many failed logins for one email, or from one client,
further attempts are refused (429) for a while, even with the right password; after too many
signups from one client, its next signups are refused for a while.

Counters live in MySQL so every replica shares them and a restart forgets nothing. Subjects are
stored as SHA-256 digests: the table never holds the emails (or passwords typed into the email
field) that were tried. The counting rule itself is the pure ``after_failure``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymysql.connections import Connection

from auth.database import utcnow


@dataclass(frozen=True)
class Limit:
    max_failures: int
    window: timedelta  # failures older than this are forgotten
    lockout: timedelta  # how long attempts are refused once max_failures is reached


@dataclass(frozen=True)
class Counter:
    failures: int
    window_started: datetime
    locked_until: datetime | None = None


def after_failure(counter: Counter | None, now: datetime, limit: Limit) -> Counter:
    """The counter after one more failed login at ``now``."""
    if counter is None or now - counter.window_started >= limit.window:
        counter = Counter(failures=0, window_started=now)
    failures = counter.failures + 1
    locked_until = counter.locked_until
    if failures >= limit.max_failures:
        locked_until = now + limit.lockout
    return Counter(failures=failures, window_started=counter.window_started, locked_until=locked_until)


def seconds_locked(counter: Counter | None, now: datetime) -> int:
    """How long attempts stay refused (0: allowed now)."""
    if counter is None or counter.locked_until is None or counter.locked_until <= now:
        return 0
    return max(1, math.ceil((counter.locked_until - now).total_seconds()))


class LoginThrottle:
    def __init__(self, *, per_email: Limit, per_client: Limit) -> None:
        self._limits = {"email": per_email, "client": per_client}

    def retry_after(
        self, conn: Connection, *, email_key: str, client: str, now: datetime | None = None
    ) -> int:
        """Seconds until this email/client may try again; 0 if it may now."""
        return _retry_after(conn, self._subjects(email_key, client), now or utcnow())

    def record_failure(
        self, conn: Connection, *, email_key: str, client: str, now: datetime | None = None
    ) -> None:
        now = now or utcnow()
        for scope, subject in self._subjects(email_key, client):
            _count(conn, scope, subject, now, self._limits[scope])
        _forget_old(conn, self._limits, now)

    def record_success(self, conn: Connection, *, email_key: str) -> None:
        """A successful login clears its email's failures (the client's stay: it may be guessing
        at many accounts and own one of them)."""
        with conn.cursor() as cur:
            cur.execute(
                "DELETE FROM login_throttle WHERE scope = %s AND subject = %s",
                self._subjects(email_key, "")[0],
            )

    def _subjects(self, email_key: str, client: str) -> list[tuple[str, str]]:
        return [("email", _digest("email", email_key)), ("client", _digest("client", client))]


class SignupThrottle:
    """Signups per client. Every attempt that reaches the database counts, whether it creates an
    account or finds the address taken: that bounds both account farming and probing addresses."""

    SCOPE = "signup"

    def __init__(self, per_client: Limit) -> None:
        self._limit = per_client

    @property
    def limit(self) -> Limit:
        return self._limit

    def retry_after(self, conn: Connection, *, client: str, now: datetime | None = None) -> int:
        return _retry_after(conn, [self._subject(client)], now or utcnow())

    def record(self, conn: Connection, *, client: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        _count(conn, *self._subject(client), now, self._limit)
        _forget_old(conn, {self.SCOPE: self._limit}, now)

    def _subject(self, client: str) -> tuple[str, str]:
        return (self.SCOPE, _digest(self.SCOPE, client))


def _retry_after(conn: Connection, subjects: list[tuple[str, str]], now: datetime) -> int:
    """Seconds until none of ``subjects`` is locked; 0 if none is now."""
    where = " OR ".join(["(scope = %s AND subject = %s)"] * len(subjects))
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT failures, window_started, locked_until FROM login_throttle WHERE {where}",
            tuple(value for subject in subjects for value in subject),
        )
        rows = cur.fetchall()
    return max((seconds_locked(Counter(*row), now) for row in rows), default=0)


def _count(conn: Connection, scope: str, subject: str, now: datetime, limit: Limit) -> None:
    with conn.cursor() as cur:
        # Make sure the row exists first (autocommit), so the transaction below locks exactly
        # one existing row and concurrent first failures cannot deadlock on a gap lock.
        cur.execute(
            "INSERT IGNORE INTO login_throttle (scope, subject, failures, window_started) "
            "VALUES (%s, %s, 0, %s)",
            (scope, subject, now),
        )
        conn.begin()
        try:
            cur.execute(
                "SELECT failures, window_started, locked_until FROM login_throttle "
                "WHERE scope = %s AND subject = %s FOR UPDATE",
                (scope, subject),
            )
            row = cur.fetchone()
            counter = after_failure(Counter(*row) if row else None, now, limit)
            cur.execute(
                "INSERT INTO login_throttle (scope, subject, failures, window_started, locked_until) "
                "VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE failures = VALUES(failures), "
                "window_started = VALUES(window_started), locked_until = VALUES(locked_until)",
                (scope, subject, counter.failures, counter.window_started, counter.locked_until),
            )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def _forget_old(conn: Connection, limits: dict[str, Limit], now: datetime) -> None:
    """Drop expired counters of these scopes (each scope by its own window)."""
    with conn.cursor() as cur:
        for scope, limit in limits.items():
            cur.execute(
                "DELETE FROM login_throttle WHERE scope = %s AND window_started < %s "
                "AND (locked_until IS NULL OR locked_until < %s) LIMIT 100",
                (scope, now - limit.window, now),
            )


def _digest(scope: str, value: str) -> str:
    return hashlib.sha256(f"{scope}:{value}".encode()).hexdigest()
