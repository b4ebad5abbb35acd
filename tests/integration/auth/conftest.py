"""Fixtures for the auth service's tests: a throwaway database on the devstack's MariaDB, and the
app running in-process against it (FastAPI TestClient, lifespan included)."""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auth.app import create_app
from auth.keys import generate_key
from auth.settings import Settings
from devstack.stack import Stack
from tests.support.auth_harness import TEST_DB_PREFIX, database_url, root_connection
from tests.support.stack import narrowed_devstack

with warnings.catch_warnings():  # starlette suggests httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to what auth needs (MariaDB)."""
    for stack in narrowed_devstack(["mariadb"]):
        os.environ.update(stack.data_env())
        yield stack


@pytest.fixture
def auth_database(devstack: Stack) -> Iterator[str]:
    """The MYSQL URL of an empty database of its own, dropped afterwards."""
    base = devstack.env()["MYSQL_URL"]
    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:12]}"
    conn = root_connection(base)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield database_url(base, name)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated key for the session (RSA generation is slow); tests copy it."""
    folder = tmp_path_factory.mktemp("signing-keys")
    generate_key(folder)
    return folder


@pytest.fixture
def keys_dir(signing_keys: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    shutil.copytree(signing_keys, folder)
    return folder


@pytest.fixture
def make_settings(auth_database: str, keys_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "mysql_url": auth_database,
            "keys_dir": keys_dir,
            "issuer": "mp4mp3-auth",
            "audience": "mp4mp3",
            "key_reload_seconds": 0,
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Start the app (lifespan and all) with given settings; every client is closed afterwards."""
    opened: list[TestClient] = []

    def make(settings: Settings, client_address: str = "198.51.100.7") -> TestClient:
        client = TestClient(create_app(settings), client=(client_address, 50000))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(settings: Settings, make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(settings)
