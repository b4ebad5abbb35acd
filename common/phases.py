"""The phases of a ConversionJob (``status.phase``, the CRD's enum) and which of them are final.

The operator writes them; the gateway, the CLI and the demo read them. A terminal phase is never
left, so whoever follows a job stops there.
"""

from __future__ import annotations

from typing import Final

PENDING: Final = "Pending"
RUNNING: Final = "Running"
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
CANCELLED: Final = "Cancelled"

PHASES: Final = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL: Final = frozenset({SUCCEEDED, FAILED, CANCELLED})
