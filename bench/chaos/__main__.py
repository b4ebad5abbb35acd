"""``python -m bench.chaos`` (``make chaos``): the fault-injection soak on the running devstack.

Submits N conversions through the public API while faults drawn from a seed are injected (pod
kills, server restarts, an SMTP outage), then checks the invariants, writes
bench/results/chaos-<date>.json and .md, and exits 1 if one failed. The seed is printed: the same
seed replays the same schedule of faults and the same mix of inputs.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from rich.console import Console

from bench.chaos import faults, report, soak

RESULTS = Path(__file__).resolve().parent.parent / "results"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console(highlight=False)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    record = soak.run(soak.Options.of(args.n, args.faults, seed, args.window), console)
    paths = report.write(record, args.out, record["date"])
    report.print_table(console, record)
    console.print(f"seed {seed}; written: " + ", ".join(str(p) for p in paths))
    return 0 if record["passed"] else 1


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=60, help="conversions to submit (default 60)")
    parser.add_argument(
        "--faults",
        type=int,
        default=16,
        help=f"faults to inject (default 16; kinds: {', '.join(faults.KINDS)})",
    )
    parser.add_argument("--seed", type=int, help="the schedule's seed (default: a random one, printed)")
    parser.add_argument(
        "--window", type=float, help="seconds the faults are spread over (default max(60, 5 N))"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="folder for the report (default bench/results/)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
