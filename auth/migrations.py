"""The auth schema as numbered migrations, applied in order, once each, at start.

``schema_migrations`` records what ran. A named MySQL lock keeps two replicas starting at the same
time from racing. MySQL commits DDL implicitly, so each step is written to be safe to run again
(a crash between a step and its record must not wedge the next start).
To change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pymysql.connections import Connection
from pymysql.cursors import Cursor

from common.logs import kv

log = logging.getLogger("auth.migrations")

LOCK_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "users",
        (
            """
            CREATE TABLE IF NOT EXISTS users (
                id CHAR(32) CHARACTER SET ascii NOT NULL,
                email VARCHAR(254) NOT NULL,
                email_key VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
                password_hash VARCHAR(255) CHARACTER SET ascii NOT NULL,
                created_at DATETIME(6) NOT NULL,
                PRIMARY KEY (id),
                UNIQUE KEY users_email_key (email_key)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """,
        ),
    ),
    Migration(
        2,
        "login throttle",
        (
            """
            CREATE TABLE IF NOT EXISTS login_throttle (
                scope VARCHAR(16) CHARACTER SET ascii NOT NULL,
                subject CHAR(64) CHARACTER SET ascii NOT NULL,
                failures INT UNSIGNED NOT NULL,
                window_started DATETIME(6) NOT NULL,
                locked_until DATETIME(6) NULL,
                PRIMARY KEY (scope, subject),
                KEY login_throttle_window (window_started)
            ) ENGINE=InnoDB
            """,
        ),
    ),
    Migration(
        3,
        "sessions: refresh tokens and token versions",
        (
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS token_version INT UNSIGNED NOT NULL DEFAULT 0",
            """
            CREATE TABLE IF NOT EXISTS refresh_tokens (
                id CHAR(32) CHARACTER SET ascii NOT NULL,
                family CHAR(32) CHARACTER SET ascii NOT NULL,
                user_id CHAR(32) CHARACTER SET ascii NOT NULL,
                secret_hash CHAR(64) CHARACTER SET ascii NOT NULL,
                created_at DATETIME(6) NOT NULL,
                expires_at DATETIME(6) NOT NULL,
                used_at DATETIME(6) NULL,
                revoked_at DATETIME(6) NULL,
                PRIMARY KEY (id),
                KEY refresh_tokens_family (family),
                KEY refresh_tokens_expiry (expires_at)
            ) ENGINE=InnoDB
            """,
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


def migrate(conn: Connection) -> list[int]:
    """Apply every migration this database has not had yet; return the versions applied."""
    database = conn.db.decode() if isinstance(conn.db, bytes) else str(conn.db)
    lock = f"{database}.auth_schema"  # GET_LOCK names are server-wide: one lock per database
    with conn.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, %s)", (lock, LOCK_TIMEOUT_SECONDS))
        row = cur.fetchone()
        if not row or row[0] != 1:
            raise RuntimeError(f"could not take the schema lock {lock!r} within {LOCK_TIMEOUT_SECONDS} s")
        try:
            return _apply_pending(cur)
        finally:
            cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))


def applied_versions(conn: Connection) -> list[int]:
    with conn.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [int(row[0]) for row in cur.fetchall()]


def _apply_pending(cur: Cursor) -> list[int]:
    cur.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INT UNSIGNED NOT NULL PRIMARY KEY,
            description VARCHAR(200) NOT NULL,
            applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) ENGINE=InnoDB
        """
    )
    cur.execute("SELECT version FROM schema_migrations")
    done = {int(row[0]) for row in cur.fetchall()}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements:
            cur.execute(statement)
        cur.execute(
            "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
            (migration.version, migration.description),
        )
        applied.append(migration.version)
        log.info(kv(event="migration.applied", version=migration.version, description=migration.description))
    return applied
