"""The ConversionJob's ``status.conditions`` in the Kubernetes convention (pure): Progressing,
Complete and Failed, each keeping its lastTransitionTime while its status stays the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from conversion_operator.times import iso


def set_conditions(
    existing: Sequence[Mapping[str, Any]],
    wanted: Sequence[tuple[str, str, str, str]],
    generation: int,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The full conditions list (a merge patch replaces lists whole). A condition keeps its
    lastTransitionTime while its status stays the same; each is stamped with the generation."""
    old = {c.get("type"): c for c in existing}
    out = []
    for kind, value, reason, message in wanted:
        before = old.get(kind)
        since = before["lastTransitionTime"] if before and before.get("status") == value else iso(now)
        out.append(
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since,
                "observedGeneration": generation,
            }
        )
    return out


def conditions_for(phase: str, reason: str, message: str) -> list[tuple[str, str, str, str]]:
    progressing = "True" if phase in ("Pending", "Running") else "False"
    complete = "True" if phase == "Succeeded" else "False"
    failed = "True" if phase == "Failed" else "False"
    return [
        ("Progressing", progressing, reason, message),
        ("Complete", complete, reason, message),
        ("Failed", failed, reason, message),
    ]
