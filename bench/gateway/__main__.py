"""Upload and download throughput through the gateway vs raw pymongo GridFS: `python -m bench.gateway`.

On the devstack's MongoDB (FerretDB), for each size (10 MB and 300 MB by default), in interleaved
rounds on the same bytes:

- upload: `GridFSBucket.upload_from_stream` of the file (raw) vs `POST /jobs` of the same file
  through a real uvicorn gateway process (multipart, streamed; timed until its 202, which also
  covers creating the ConversionJob and publishing the event);
- download: `GridFSBucket.open_download_stream(...).read()` in 1 MiB pieces (raw) vs
  `GET /jobs/{id}/mp3` of a file of the same size (streamed over HTTP, read and dropped).

The gateway runs in a world of its own (namespace with its RBAC, database, RabbitMQ vhost) so no
operator converts the bench's bytes; the bench plays the operator (removes files, finalizers) and
the converter (stores the "MP3", marks the job Succeeded). Prints a table; writes
bench/results/gateway-<date>.json. Target (DESIGN.md): gateway throughput >= 0.8x raw GridFS.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench.gateway.report import print_table
from bench.gateway.results import TARGET_RATIO
from bench.gateway.run import measure
from bench.report import now

RESULTS = Path(__file__).resolve().parent.parent / "results"  # bench/results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--sizes", default="10,300", help="file sizes in MB, comma-separated (default 10,300)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per size (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for gateway-<date>.json")
    args = parser.parse_args(argv)
    console = Console(highlight=False)
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    started = now()
    result = measure(sizes, args.rounds, console)
    print_table(result, console)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"gateway-{datetime.now(UTC).strftime('%Y-%m-%d')}.json"
    record = {
        "benchmark": "gateway",
        "measured_at": started,
        "target_ratio": TARGET_RATIO,
        **result.as_json(),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    console.print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
