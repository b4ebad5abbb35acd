"""Fixtures for the operator's tests: worlds of their own on the devstack's servers (a namespace
with the operator's RBAC, a MongoDB database, a RabbitMQ vhost with a tap on the outcome events),
each with real operator processes from this checkout, running under the operator's ServiceAccount."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.config import Config
from devstack.stack import NODE, Stack
from tests.support.operator_harness import make_video
from tests.support.operator_world import OperatorWorld
from tests.support.stack import narrowed_devstack
from tests.support.world import Worlds


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to what the operator needs."""
    node = NODE if Config.from_env().node else []  # an offset devstack has none
    for stack in narrowed_devstack(
        ["rabbitmq", "ferretdb", "etcd", "kube-apiserver", "kube-controller-manager", *node]
    ):
        os.environ.update(stack.data_env())
        yield stack


@pytest.fixture(scope="session")
def world(worlds: Worlds, devstack: Stack) -> OperatorWorld:
    """The world most tests share, with one operator running on it (after this folder's servers are
    up: ``worlds`` may have been made for another folder)."""
    made = worlds.new(OperatorWorld)
    made.start_operator()
    return made


@pytest.fixture(scope="session")
def media(devstack: Stack) -> Iterator[Path]:
    """Test videos, made once per session."""
    folder = devstack.cfg.dir("scratch") / f"operator-media-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    make_video(folder / "talk.mp4", 5)
    make_video(folder / "index-at-end.mp4", 6, faststart=False)
    make_video(folder / "silent.mp4", 4, audio=False)
    make_video(folder / "lecture.mp4", 900, stereo=True)  # long enough to be caught mid-conversion
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
