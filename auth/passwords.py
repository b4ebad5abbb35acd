"""Passwords: the signup policy, and argon2id hashing with bounded memory use."""

from __future__ import annotations

import logging
import threading

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from common.logs import kv

log = logging.getLogger("auth.passwords")

MAX_LENGTH = 1024  # characters; longer bodies are refused before any hashing
MIN_DISTINCT_CHARACTERS = 5
# The handful that every guessing list starts with; a real deployment may add a breached-password check.
COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "password12", "password123", "password1234", "passw0rd",
        "1234567890", "12345678910", "0123456789", "qwertyuiop", "qwertyuiop1", "1q2w3e4r5t",
        "iloveyou123", "letmein123", "welcome123", "administrator", "changeme123", "abcdefghij",
    }
)  # fmt: skip


def policy_problem(password: str, email: str, min_length: int) -> str | None:
    """Why ``password`` is not acceptable for the account ``email``, as a sentence; None if it is."""
    if len(password) < min_length:
        return f"The password must be at least {min_length} characters long."
    if len(password) > MAX_LENGTH:
        return f"The password must be at most {MAX_LENGTH} characters long."
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return f"The password must use at least {MIN_DISTINCT_CHARACTERS} different characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        return "The password is one of the most common passwords; choose another."
    local_part = email.lower().partition("@")[0]
    if email.lower() in lowered or (len(local_part) >= 4 and local_part in lowered):
        return "The password must not contain your email address."
    return None


class PasswordHasher:
    """argon2id hashes. Each hash takes ``memory_kib`` of RAM, so at most ``concurrency`` run at
    once (the rest wait): a burst of logins cannot exhaust the pod's memory."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int, concurrency: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._slots = threading.BoundedSemaphore(concurrency)
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches. With no stored hash (unknown user) the same work is done
        against a dummy hash, so the answer takes as long either way (no user enumeration)."""
        target = stored_hash if stored_hash is not None else self._dummy_hash()
        with self._slots:
            try:
                matched = self._hasher.verify(target, password)
            except InvalidHashError:
                log.error(kv(event="password_hash.unreadable"))
                return False
            except VerificationError:
                return False
        return bool(matched) and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than today's settings."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hash("not a password anyone has: only here to spend the same time")
        return self._dummy
