"""Sessions: rotating refresh tokens kept hashed in MySQL, and the per-user token version that
revokes access tokens already handed out.

A refresh token is ``<id>.<secret>``; only the secret's SHA-256 is stored. Each use returns a new
token of the same family and marks the old one used. A used token presented again means it was
copied: the whole family is revoked (RFC 9700, refresh token rotation). Logging out revokes the
family and raises the user's token version: access tokens carry the version they were issued at
(claim ``ver``) and the gateway refuses older ones within seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymysql.connections import Connection

from auth.database import utcnow


class InvalidRefresh(Exception):
    """The refresh token cannot be used; ``str(exc)`` is a sentence for the client."""


@dataclass(frozen=True)
class Session:
    user_id: str
    email: str
    version: int  # the user's token version: the ``ver`` of the access tokens issued now


def issue(conn: Connection, *, user_id: str, ttl: timedelta, family: str | None = None) -> str:
    """A new refresh token for ``user_id`` (a new family unless one is given)."""
    token_id, secret = uuid.uuid4().hex, secrets.token_urlsafe(32)
    now = utcnow()
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO refresh_tokens (id, family, user_id, secret_hash, created_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (token_id, family or uuid.uuid4().hex, user_id, _hash(secret), now, now + ttl),
        )
    return f"{token_id}.{secret}"


def rotate(conn: Connection, token: str, *, ttl: timedelta) -> tuple[Session, str]:
    """Use ``token``: the session it belongs to and its successor; InvalidRefresh if it is
    unknown, expired, revoked, or was used before (then its whole family is revoked)."""
    conn.begin()
    try:
        row = _row(conn, token, lock=True)
        family, user_id, expires_at, used_at, revoked_at = row
        now = utcnow()
        if revoked_at is not None:
            raise InvalidRefresh("This session has been logged out; log in again.")
        if used_at is not None:
            _revoke(conn, family, now)
            conn.commit()
            raise InvalidRefresh(
                "This refresh token was already used, so it may have been copied: the session is "
                "revoked. Log in again."
            )
        if expires_at <= now:
            raise InvalidRefresh("The session has expired; log in again.")
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE refresh_tokens SET used_at = %s WHERE id = %s", (now, token.partition(".")[0])
            )
        conn.commit()
    except BaseException:
        conn.rollback()  # end the transaction we began (a no-op after the reuse case's commit)
        raise
    session = _session(conn, user_id)
    return session, issue(conn, user_id=user_id, ttl=ttl, family=family)


def logout(conn: Connection, token: str) -> str:
    """Revoke ``token``'s family and raise its user's token version; the user id."""
    family, user_id, *_ = _row(conn, token, lock=False)
    now = utcnow()
    _revoke(conn, family, now)
    with conn.cursor() as cur:
        cur.execute("UPDATE users SET token_version = token_version + 1 WHERE id = %s", (user_id,))
    return str(user_id)


def token_version(conn: Connection, user_id: str) -> int | None:
    """The user's current token version (None: no such user)."""
    with conn.cursor() as cur:
        cur.execute("SELECT token_version FROM users WHERE id = %s", (user_id,))
        row = cur.fetchone()
    return int(row[0]) if row else None


def forget_expired(conn: Connection, now: datetime | None = None) -> None:
    """Drop a few long-expired tokens (called on logins; keeps the table from growing forever)."""
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM refresh_tokens WHERE expires_at < %s LIMIT 100",
            ((now or utcnow()) - timedelta(days=1),),
        )


def _session(conn: Connection, user_id: str) -> Session:
    with conn.cursor() as cur:
        cur.execute("SELECT id, email, token_version FROM users WHERE id = %s", (user_id,))
        row = cur.fetchone()
    if row is None:
        raise InvalidRefresh("The account of this session no longer exists.")
    return Session(user_id=row[0], email=row[1], version=int(row[2]))


def _row(
    conn: Connection, token: str, *, lock: bool
) -> tuple[str, str, datetime, datetime | None, datetime | None]:
    token_id, dot, secret = token.partition(".")
    if not dot or len(token_id) != 32 or not secret:
        raise InvalidRefresh("The refresh token is malformed.")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT family, user_id, expires_at, used_at, revoked_at, secret_hash FROM refresh_tokens "
            "WHERE id = %s" + (" FOR UPDATE" if lock else ""),
            (token_id,),
        )
        row = cur.fetchone()
    if row is None or not hmac.compare_digest(row[5], _hash(secret)):
        raise InvalidRefresh("The refresh token is not valid; log in again.")
    return row[0], row[1], row[2], row[3], row[4]


def _revoke(conn: Connection, family: str, now: datetime) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE refresh_tokens SET revoked_at = %s WHERE family = %s AND revoked_at IS NULL",
            (now, family),
        )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
