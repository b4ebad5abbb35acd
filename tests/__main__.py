"""``python -m tests [pytest args]`` (``make test``): every test on one devstack, in three passes.

Most tests share the devstack without disturbing it; they run first, on ``MP4MP3_TEST_WORKERS``
pytest-xdist workers (default 3: on 2 cores most of a test's time is spent waiting on servers, pods
and conversions), a test module per worker. Tests marked ``serial`` reconfigure what the others use
(the chart's release) or time kills of operators; they run next, one at a time. Tests marked
``alone`` stop or restart what every test uses (the API server, the node, the servers a chaos soak
restarts); they run last, one at a time. The devstack is brought up once before the passes, and at
the end only what this run started is stopped, as the ``devstack`` fixture does for a plain
``pytest``. ``make test`` names its linters in ``MP4MP3_LINT``: they run while the devstack comes up
(a fresh clone's mypy takes about 20 s), and no test runs if they fail.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from devstack.stack import Stack

NO_TESTS = 5  # pytest's exit code when a pass selects nothing (e.g. only unit tests were named)
INTERRUPTED = 2  # Ctrl-C: no further pass


def main(args: list[str]) -> int:
    stack = Stack()
    # the servers, and the host services tests start (they keep running for the next test: KEEP)
    was_running = {name: stack[name].running() for name in [*stack.servers, *stack.host_services]}
    env = {**os.environ, "MP4MP3_KEEP_DEVSTACK": "1"}  # the fixtures leave the devstack to us
    workers = os.environ.get("MP4MP3_TEST_WORKERS", "3")
    # the slowest tests of each pass are listed at its end: where CI's minutes go
    passes = [
        ["-n", workers, "--dist", "loadfile", "-m", "not serial and not alone", "--durations=20"],
        ["-p", "no:xdist", "-m", "serial", "--durations=0"],
        # -s: the alone tests say what they do and how long it takes (the chaos soak's faults, the
        # node's down and up), and these are the minutes CI spends one test at a time
        ["-p", "no:xdist", "-m", "alone", "--durations=0", "-s"],
    ]
    codes = []
    lint = subprocess.Popen(shlex.split(os.environ["MP4MP3_LINT"])) if os.environ.get("MP4MP3_LINT") else None
    try:
        stack.up()  # inside: a server that fails to start must not leave the others running
        if lint is not None and lint.wait() != 0:
            print("lint failed: no test runs", flush=True)
            return lint.returncode
        for selection in passes:
            argv = [sys.executable, "-m", "pytest", *selection, *args]
            print(f"\n$ {' '.join(argv[1:])}", flush=True)
            codes.append(subprocess.run(argv, env=env, check=False).returncode)
            # host services a pass's tests started (an operator on the release's namespace is a
            # second operator there) do not outlive it
            left = [name for name in stack.host_services if not was_running[name]]
            if left:  # (down() of nothing named is down of everything)
                stack.down(left)
            if codes[-1] == INTERRUPTED:
                break
    finally:
        if lint is not None and lint.poll() is None:  # up failed while the linters ran
            lint.wait()
        started = [name for name, running in was_running.items() if not running]
        if started and not os.environ.get("MP4MP3_KEEP_DEVSTACK"):
            stack.down(started)
    if all(code == NO_TESTS for code in codes):
        print("pytest collected no tests")
        return 0
    return next((code for code in codes if code not in (0, NO_TESTS)), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
