"""A pytest plugin: test files run longest first, by their durations in earlier sessions.

``make test``'s first pass hands whole files to its xdist workers (``--dist loadfile``) in
collection order (``--no-loadscope-reorder``: xdist would otherwise order files by their number of
tests, which puts one-test files of a minute last). A long file handed out last keeps one worker
busy while the others idle; handed out first, it runs while the short files fill the other
workers (longest-processing-time-first).
Each session adds what each test took to ``<cache>/test-durations.json`` (outside the checkout,
with the other build caches); a file's time is the sum over the tests collected from it, a test
never measured counting the median of those measured. With nothing measured yet (a cold cache),
the order stays as collected.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from devstack.config import Config


def _path() -> Path:
    return Config.from_env().cache / "test-durations.json"


def _load() -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(_path().read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class LongestFirst:
    def __init__(self) -> None:
        self.measured: dict[str, float] = defaultdict(float)

    @pytest.hookimpl(trylast=True)  # after other plugins' reordering and deselection
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not hasattr(config, "workerinput"):
            return  # one process runs them all in turn (the serial passes): the order stays
        known = _load()
        unmeasured = statistics.median(known.values()) if known else 0.0
        seconds: dict[str, float] = defaultdict(float)
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            seconds[_file_of(item.nodeid)] += known.get(item.nodeid, unmeasured)
            first.setdefault(_file_of(item.nodeid), index)
        order = {id(item): index for index, item in enumerate(items)}

        def key(item: pytest.Item) -> tuple[float, int, int]:
            file = _file_of(item.nodeid)  # a file's tests stay together, in their order
            return (-seconds[file], first[file], order[id(item)])

        items.sort(key=key)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.measured[report.nodeid] += report.duration  # setup, call and teardown

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput") or not self.measured:
            return  # an xdist worker: its reports reach the controller, which writes once
        known = _load()
        known.update(self.measured)
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(sorted(known.items())), indent=1))
        tmp.replace(path)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(LongestFirst(), "longest-first")
