"""The devstack narrowed to what one test folder needs: a sibling service that is half written
cannot fail that folder's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

from devstack.stack import Stack


def narrowed_devstack(needed: list[str]) -> Iterator[Stack]:
    """Start the ``needed`` servers (a fixture body: ``yield from``). Stops at the end only what it
    started, unless MP4MP3_KEEP_DEVSTACK is set."""
    stack = Stack()
    was_up = all(server.running() for server in stack.select(needed))
    stack.up(needed)
    yield stack
    if not was_up and not os.environ.get("MP4MP3_KEEP_DEVSTACK"):
        stack.down(needed)
