"""Failures the converter reports to the user: a CamelCase reason and a sentence, decided once."""

from __future__ import annotations

from common import exit_codes


class ConversionFailure(Exception):
    """A failure worth another attempt (the world's fault)."""

    exit_code: int = exit_codes.FAILED

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class BadInput(ConversionFailure):
    """The input cannot be converted; retrying cannot help."""

    exit_code = exit_codes.BAD_INPUT


class Terminated(BaseException):
    """SIGTERM arrived: stop, clean up, exit 143. A BaseException so no ``except Exception`` eats it."""
