"""What a converter pod's container state says that its Job does not (pure).

A pod whose image cannot be had waits forever: the Job neither fails nor retries until its
deadline, 30 minutes later by default. The container's waiting reason says so at once. A converter
killed for its memory use ends with exit code 137 like any SIGKILL; only the terminated reason
(OOMKilled) says it was memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

OOM_KILLED = "OOMKilled"
OUT_OF_MEMORY = "OutOfMemory"  # the ConversionJob's reason
IMAGE_UNAVAILABLE = "ImageUnavailable"
# waiting reasons after which the container never starts without someone changing the image:
# ErrImagePull alone is left out, it may be a registry's passing hiccup (ImagePullBackOff follows)
IMAGE_NEVER_STARTS = frozenset({"ErrImageNeverPull", "ImagePullBackOff", "InvalidImageName"})


class ContainerState(Protocol):
    """The fields of views.PodView this module reads."""

    @property
    def deleting(self) -> bool: ...
    @property
    def created(self) -> str: ...
    @property
    def terminated_reason(self) -> str | None: ...
    @property
    def waiting_reason(self) -> str | None: ...
    @property
    def waiting_message(self) -> str | None: ...


@dataclass(frozen=True)
class Trouble:
    reason: str  # CamelCase, for the ConversionJob's status and Events
    message: str  # a sentence for the owner's email


def image_trouble(pods: Sequence[ContainerState], image: str) -> Trouble | None:
    """The newest pod cannot start its image: the conversion cannot run until the image changes."""
    live = [p for p in pods if not p.deleting]
    if not live:
        return None
    pod = max(live, key=lambda p: p.created)
    if pod.waiting_reason not in IMAGE_NEVER_STARTS:
        return None
    detail = f": {pod.waiting_message.rstrip('.')}" if pod.waiting_message else ""
    return Trouble(
        IMAGE_UNAVAILABLE,
        f"The converter image {image} cannot be started ({pod.waiting_reason}{detail}). "
        "The service is misconfigured; nothing is wrong with the video.",
    )


def oom_killed(pod: ContainerState | None) -> bool:
    return pod is not None and pod.terminated_reason == OOM_KILLED


def out_of_memory(attempts: int, memory_limit: str | None) -> Trouble:
    """The failure of a Job whose last attempt was killed for its memory use."""
    limit = f" of {memory_limit}" if memory_limit else ""
    times = "once" if attempts == 1 else f"{attempts} times"
    return Trouble(
        OUT_OF_MEMORY,
        f"The conversion failed {times}: the converter ran out of memory (it was killed for exceeding "
        f"its memory limit{limit}). It may succeed with a higher limit.",
    )
