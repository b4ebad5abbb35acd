"""Users in MySQL: email rules, and the few queries the routes need (always parameterised)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pymysql
from pymysql.connections import Connection

from auth.database import utcnow

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
DUPLICATE_KEY = 1062  # MySQL ER_DUP_ENTRY


class EmailTaken(Exception):
    """Another account already uses this email (compared case-insensitively)."""


@dataclass(frozen=True)
class User:
    id: str  # 32 hex characters; the JWT's sub and the owner label on ConversionJobs
    email: str


@dataclass(frozen=True)
class StoredUser(User):
    password_hash: str


def normalize_email(raw: str) -> str:
    """The email to store: trimmed, domain lower-cased. ValueError (a sentence) if it is not one."""
    email = raw.strip()
    local, at, domain = email.rpartition("@")
    problem = "Enter an email address like name@example.com."
    if not at or not local or len(email) > MAX_EMAIL_LENGTH or len(local) > MAX_LOCAL_PART_LENGTH:
        raise ValueError(problem)
    if "@" in local or any(c.isspace() or not c.isprintable() for c in local):
        raise ValueError(problem)
    labels = domain.lower().split(".")
    if len(labels) < 2 or labels[-1].isdigit() or not all(_valid_label(label) for label in labels):
        raise ValueError(problem)
    return f"{local}@{'.'.join(labels)}"


def email_key(email: str) -> str:
    """What uniqueness and login compare: the whole address, case-insensitively."""
    return email.strip().lower()


def create(conn: Connection, *, email: str, password_hash: str) -> User:
    user = User(id=uuid.uuid4().hex, email=email)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO users (id, email, email_key, password_hash, created_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (user.id, email, email_key(email), password_hash, utcnow()),
            )
    except pymysql.err.IntegrityError as exc:
        if exc.args and exc.args[0] == DUPLICATE_KEY:
            raise EmailTaken(email) from None
        raise
    return user


def find_by_email(conn: Connection, key: str) -> StoredUser | None:
    with conn.cursor() as cur:
        cur.execute("SELECT id, email, password_hash FROM users WHERE email_key = %s", (key,))
        row = cur.fetchone()
    return StoredUser(id=row[0], email=row[1], password_hash=row[2]) if row else None


def update_password_hash(conn: Connection, *, user_id: str, password_hash: str) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


def _valid_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(c.isalnum() or c == "-" for c in label)
    )
