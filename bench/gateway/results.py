"""What the gateway benchmark measures: a run per (operation, contender, size, round), and the
medians and paired ratios over them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.stats import median, paired_ratio, rounded

MB = 1_000_000

MiB = 1024 * 1024

TARGET_RATIO = 0.8


@dataclass(frozen=True)
class Run:
    operation: str  # upload | download
    contender: str  # raw | gateway
    size_mb: float
    round: int
    seconds: float
    mb_per_s: float
    gateway_rss_growth_mb: float | None = None  # peak RSS during the run minus before it


@dataclass
class Result:
    """Everything measured: the runs, and per (operation, size) the medians and the paired ratio."""

    parameters: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    load_average: dict[str, list[float]] = field(default_factory=dict)
    gateway_rss_mb: dict[str, float] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        rows = []
        for operation in ("upload", "download"):
            for size in self.parameters["sizes_mb"]:
                raw = self._runs(operation, "raw", size)
                gw = self._runs(operation, "gateway", size)
                if not raw or not gw:
                    continue
                rows.append(
                    {
                        "operation": operation,
                        "size_mb": size,
                        "raw_mb_per_s": rounded(median([r.mb_per_s for r in raw]), 1),
                        "gateway_mb_per_s": rounded(median([r.mb_per_s for r in gw]), 1),
                        # throughput ratio per round (raw seconds / gateway seconds), then the median
                        "ratio": rounded(paired_ratio([r.seconds for r in raw], [r.seconds for r in gw]), 3),
                        "gateway_peak_rss_growth_mb": rounded(
                            max(r.gateway_rss_growth_mb or 0.0 for r in gw), 1
                        ),
                        "rounds": len(gw),
                    }
                )
        return rows

    def _runs(self, operation: str, contender: str, size: float) -> list[Run]:
        runs = [r for r in self.runs if (r.operation, r.contender, r.size_mb) == (operation, contender, size)]
        return sorted(runs, key=lambda r: r.round)

    def as_json(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "load_average": self.load_average,
            "gateway_rss_mb": self.gateway_rss_mb,
            "summary": self.summary(),
            "runs": [asdict(r) for r in self.runs],
        }
