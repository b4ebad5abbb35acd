"""The converter's exit codes: an interface with the operator, whose Job fails at once on BAD_INPUT
(podFailurePolicy) and retries anything else up to its backoffLimit."""

from __future__ import annotations

from typing import Final

OK: Final = 0
FAILED: Final = 1  # the world's fault (storage down, encoder crashed...): worth another attempt
BAD_INPUT: Final = 10  # the input's fault (no audio, not a video, gone): another attempt cannot help
TERMINATED: Final = 143  # 128 + SIGTERM: the pod was stopped (deleted, deadline, eviction)
