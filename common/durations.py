"""How a duration reads wherever a user sees one: ``status.duration`` (kubectl's column, the API,
the CLI) and the notification mail."""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """12s, 3m4s, 1h2m3s: the way kubectl shows ages (negative clock skew reads as 0s)."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
