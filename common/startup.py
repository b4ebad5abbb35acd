"""How a service's process starts: its settings read and checked before anything else, a bad one
told in one log line (the caller then exits with its own code), logs at the level they name."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from pydantic import ValidationError

from common import logs
from common.logs import kv


class _Leveled(Protocol):
    @property
    def log_level(self) -> str: ...


SettingsT = TypeVar("SettingsT", bound=_Leveled)


def load_settings(get_settings: Callable[[], SettingsT], log: logging.Logger) -> SettingsT | None:
    """The settings, or None (after logging ``settings.invalid``) when one is missing or wrong."""
    logs.setup()
    try:
        settings = get_settings()
    except ValidationError as exc:
        log.error(kv(event="settings.invalid", error=str(exc).replace("\n", " | ")))
        return None
    logs.setup(settings.log_level)
    return settings
