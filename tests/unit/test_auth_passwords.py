"""Password policy messages and argon2id hashing."""

from __future__ import annotations

import pytest

from auth.passwords import MAX_LENGTH, PasswordHasher, policy_problem

EMAIL = "grace.hopper@example.com"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_kib=8 * 1024, parallelism=1, concurrency=2)


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short", "at least 10 characters"),
        ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH} characters"),
        ("abababababab", "at least 5 different characters"),
        ("Password123", "most common passwords"),
        ("my grace.hopper@example.com!", "must not contain your email"),
        ("GRACE.HOPPER-rules-42", "must not contain your email"),
    ],
)
def test_policy_explains_what_is_wrong(password: str, expected: str) -> None:
    problem = policy_problem(password, EMAIL, min_length=10)
    assert problem is not None and expected in problem
    assert problem.endswith(".")


@pytest.mark.parametrize("password", ["correct horse battery", "Tr0ub4dor&3xyz", "ünïcödé-pässwörd"])
def test_policy_accepts_reasonable_passwords(password: str) -> None:
    assert policy_problem(password, EMAIL, min_length=10) is None


def test_hash_is_argon2id_and_never_contains_the_password(hasher: PasswordHasher) -> None:
    stored = hasher.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    assert hasher.hash("correct horse battery") != stored  # salted


def test_verify_matches_only_the_right_password(hasher: PasswordHasher) -> None:
    stored = hasher.hash("correct horse battery")
    assert hasher.verify(stored, "correct horse battery")
    assert not hasher.verify(stored, "correct horse battery ")
    assert not hasher.verify(stored, "")


def test_unknown_user_never_verifies(hasher: PasswordHasher) -> None:
    assert not hasher.verify(None, "not a password anyone has: only here to spend the same time")
    assert not hasher.verify(None, "anything")


def test_unreadable_stored_hash_fails_closed(hasher: PasswordHasher) -> None:
    assert not hasher.verify("plaintext-from-a-bad-import", "plaintext-from-a-bad-import")


def test_hashes_made_with_other_parameters_need_rehash(hasher: PasswordHasher) -> None:
    stronger = PasswordHasher(time_cost=2, memory_kib=8 * 1024, parallelism=1, concurrency=1)
    stored = hasher.hash("correct horse battery")
    assert not hasher.needs_rehash(stored)
    assert stronger.needs_rehash(stored)
    assert stronger.verify(stored, "correct horse battery")  # old hashes still log in
