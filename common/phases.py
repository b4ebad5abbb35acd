"""The phases of a ConversionJob (``status.phase``, the CRD's enum) and which of them are final.

The operator writes them; the gateway, the CLI and the demo read them. A terminal phase is never
left, so whoever follows a job stops there; only an explicit retry
(``mp4mp3.io/retry``) starts a Failed job's next series, back in Pending.
"""

from __future__ import annotations

from typing import Final

QUEUED: Final = "Queued"  # its Job waits to be admitted (a cap is reached)
PENDING: Final = "Pending"
RUNNING: Final = "Running"
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
CANCELLED: Final = "Cancelled"

PHASES: Final = (QUEUED, PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL: Final = frozenset({SUCCEEDED, FAILED, CANCELLED})
