"""Fixtures for the converter's tests: the converter run as a host process of this checkout
(``python -m converter_job``, as its Job's container runs it) against the devstack's FerretDB,
and test videos with chapters, tags and silent ends made with ffmpeg."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest

from devstack.stack import Stack
from tests.support.converter_harness import ConverterRun, make_chaptered_video, make_long_video
from tests.support.stack import narrowed_devstack


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to what the converter talks to: FerretDB (on PostgreSQL)."""
    yield from narrowed_devstack(["ferretdb"])


@pytest.fixture(scope="session")
def converter(devstack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConverterRun]:
    """Runs the converter on a video with a spec's output; a database of its own, dropped after."""
    base = devstack.data_env()["MONGO_URI"]
    database = f"converter-{uuid.uuid4().hex[:8]}"
    uri = f"{base.rsplit('/', 1)[0]}/{database}"
    run = ConverterRun(uri, tmp_path_factory.mktemp("converter"), dict(os.environ))
    yield run
    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    client.drop_database(database)
    client.close()


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("converter-media")
    make_chaptered_video(folder / "Lecture é.mp4")
    make_long_video(folder / "long.mp4", 120)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
