"""The gateway benchmark's table (printed) and its section of the `python -m bench` report."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table as RichTable

from bench.gateway.results import TARGET_RATIO, Result
from bench.gateway.run import measure
from bench.report import Chart, Section, Table, Target

COLUMNS = ["operation", "size MB", "raw MB/s", "gateway MB/s", "ratio", "gateway RSS +MiB", "rounds"]


def rows(result: Result) -> list[list[Any]]:
    return [
        [
            s["operation"],
            s["size_mb"],
            s["raw_mb_per_s"],
            s["gateway_mb_per_s"],
            s["ratio"],
            s["gateway_peak_rss_growth_mb"],
            s["rounds"],
        ]
        for s in result.summary()
    ]


def print_table(result: Result, console: Console) -> None:
    table = RichTable(title="gateway vs raw pymongo GridFS (medians; ratio = paired, >= 0.8 wanted)")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in rows(result):
        table.add_row(*(str(cell) for cell in row))
    console.print(table)
    console.print(
        f"gateway RSS: {result.gateway_rss_mb}; load average before {result.load_average['before']}, "
        f"after {result.load_average['after']}"
    )


def section(smoke: bool = False, console: Console | None = None) -> Section:
    """The report section for `python -m bench` (bench/report.py's shape)."""
    sizes, rounds = ([1.0, 4.0], 1) if smoke else ([10.0, 300.0], 3)
    result = measure(sizes, rounds, console)
    summary = result.summary()
    targets = [
        Target(
            f"gateway {s['operation']} {s['size_mb']:g} MB vs raw GridFS",
            s["ratio"],
            ">=",
            TARGET_RATIO,
            "x",
            "paired median of raw seconds / gateway seconds",
        )
        for s in summary
    ]
    charts = [
        Chart(
            f"{op} throughput",
            "MB/s",
            [f"{s['size_mb']:g} MB" for s in summary if s["operation"] == op],
            {
                "raw GridFS": [s["raw_mb_per_s"] for s in summary if s["operation"] == op],
                "gateway": [s["gateway_mb_per_s"] for s in summary if s["operation"] == op],
            },
        )
        for op in ("upload", "download")
    ]
    return Section(
        name="gateway",
        parameters=result.parameters,
        results=result.as_json(),
        targets=targets,
        tables=[Table("gateway vs raw pymongo GridFS (bench/gateway/)", COLUMNS, rows(result))],
        charts=charts,
        notes=[
            "Client, gateway and FerretDB share the machine's cores; the raw contender has no HTTP "
            "hop. Upload through the gateway is timed to its 202, so it includes creating the "
            "ConversionJob and publishing conversion.requested.",
        ],
    )
