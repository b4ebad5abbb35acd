"""Medians, percentiles and paired ratios: the only statistics the reports use."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linear between the closest ranks; the value itself for one."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def paired_ratio(values: Sequence[float], baseline: Sequence[float]) -> float:
    """Median of the per-round ratios: each round's contenders ran back to back, so a slow moment
    of the (shared, noisy) machine weighs on both sides of a ratio instead of on one median."""
    ratios = [v / b for v, b in zip(values, baseline, strict=True) if b > 0]
    return median(ratios)


def rounded(value: float, digits: int = 3) -> float | None:
    """JSON has no NaN: a missing value is null."""
    return None if math.isnan(value) else round(value, digits)
