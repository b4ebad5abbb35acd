"""Helpers for the auth service's tests: throwaway databases on the devstack's MariaDB."""

from __future__ import annotations

import pymysql

from auth.database import parse_mysql_url

TEST_DB_PREFIX = "mp4mp3_test_"  # the devstack's user may create databases named so


def database_url(base_url: str, database: str) -> str:
    return base_url.rsplit("/", 1)[0] + "/" + database


def root_connection(base_url: str) -> pymysql.connections.Connection:
    args = parse_mysql_url(base_url)
    del args["database"]
    return pymysql.connect(**args, autocommit=True)
