"""MySQL connections: URL parsing, a small pool that never hands out a dead connection, and the
one exception (DatabaseUnavailable) that every route turns into a 503."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
from pymysql.connections import Connection

from common.logs import kv

log = logging.getLogger("auth.database")

# Errors that mean "the server is not there or dropped us", not "the query is wrong".
CONNECTION_ERRORS = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)


class DatabaseUnavailable(Exception):
    """MySQL cannot be reached (or dropped the connection): the request may be retried later."""


def utcnow() -> datetime:
    """Now as naive UTC: how every DATETIME column of ours is written and read."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_mysql_url(url: str) -> dict[str, Any]:
    """pymysql.connect() arguments from mysql://user:password@host:port/database."""
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mysql+pymysql"):
        raise ValueError("the MySQL URL must look like mysql://user:password@host:port/database")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not parts.username or not database:
        raise ValueError(
            "the MySQL URL must name a user, a host and a database: mysql://user:pw@host:port/db"
        )
    try:
        port = parts.port or 3306
    except ValueError:
        raise ValueError("the MySQL URL's port is not a number") from None
    return {
        "host": parts.hostname,
        "port": port,
        "user": unquote(parts.username),
        "password": unquote(parts.password or ""),
        "database": database,
    }


class Database:
    """A pool of pymysql connections (autocommit on; use ``conn.begin()`` for a transaction).

    A pooled connection is pinged before it is handed out, so after a MySQL restart the first
    request already gets a fresh connection. ``prepare`` (the schema migrations) runs once, on
    the first connection that succeeds: at start if MySQL is up, else as soon as it comes back.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        connect_timeout: float = 3.0,
        query_timeout: float = 10.0,
        prepare: Callable[[Connection], object] | None = None,
    ) -> None:
        self._args = parse_mysql_url(url)
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._query_timeout = query_timeout
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._prepare = prepare
        self._prepared = prepare is None
        self._prepare_lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self._args["database"])

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A live connection for the duration of the block; DatabaseUnavailable if there is none."""
        conn = self._checkout()
        try:
            yield conn
        except CONNECTION_ERRORS as exc:
            _close_quietly(conn)
            log.warning(kv(event="mysql.failed", error=exc))
            raise DatabaseUnavailable(str(exc)) from exc
        except BaseException:
            self._discard_or_return(conn)
            raise
        else:
            self._checkin(conn)

    def check(self) -> None:
        """Raise DatabaseUnavailable unless MySQL answers and the schema is in place."""
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)

    def _connect(self) -> Connection:
        try:
            return pymysql.connect(
                **self._args,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=self._connect_timeout,
                read_timeout=self._query_timeout,
                write_timeout=self._query_timeout,
            )
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    def _checkout(self) -> Connection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
                break
            try:
                conn.ping(reconnect=False)
                break
            except CONNECTION_ERRORS:
                _close_quietly(conn)  # dead since it was pooled (server restarted): try the next
        if not self._prepared:
            self._run_prepare(conn)
        return conn

    def _run_prepare(self, conn: Connection) -> None:
        assert self._prepare is not None
        with self._prepare_lock:
            if self._prepared:
                return
            try:
                self._prepare(conn)
            except CONNECTION_ERRORS as exc:
                _close_quietly(conn)
                raise DatabaseUnavailable(str(exc)) from exc
            except BaseException:
                _close_quietly(conn)  # the caller never receives it: do not leak it
                raise
            self._prepared = True

    def _checkin(self, conn: Connection) -> None:
        if not conn.open:
            return
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def _discard_or_return(self, conn: Connection) -> None:
        """After an application error: roll back whatever the block left open, keep the connection."""
        try:
            conn.rollback()
        except CONNECTION_ERRORS:
            _close_quietly(conn)
            return
        self._checkin(conn)


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # already closed, or the socket is gone: nothing to release
        conn.close()
