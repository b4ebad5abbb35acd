"""``python -m tests.fuzz [pytest args]`` (``make fuzz``): the fuzz test of tests/integration/fuzz
with many more examples per operation (MP4MP3_FUZZ_EXAMPLES, default 100; MP4MP3_FUZZ_SEED to
replay or vary a run). It prints each service's totals (operations, examples, failures) and each
failure's request and answer."""

from __future__ import annotations

import os
import subprocess
import sys


def main(args: list[str]) -> int:
    env = {**os.environ, "MP4MP3_FUZZ_EXAMPLES": os.environ.get("MP4MP3_FUZZ_EXAMPLES", "100")}
    argv = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-s", "-q", "tests/integration/fuzz", *args]
    print(f"$ MP4MP3_FUZZ_EXAMPLES={env['MP4MP3_FUZZ_EXAMPLES']} {' '.join(argv[1:])}", flush=True)
    return subprocess.run(argv, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
