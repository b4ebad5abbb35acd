"""Schemathesis against the real gateway and auth, from their own OpenAPI documents, with a real
user's token: no 5xx, every answer as documented (status, headers, schema), every error
``{"detail": ...}``. Bounded for CI (a fixed seed, a few examples per operation and mode);
``make fuzz`` runs the same with many more (MP4MP3_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os

import pytest

from tests.support.fuzz import fuzz
from tests.support.gateway_harness import GatewayProcess
from tests.support.gateway_world import GatewayWorld, User, sign_up

EXAMPLES = int(os.environ.get("MP4MP3_FUZZ_EXAMPLES", "4"))
SEED = int(os.environ.get("MP4MP3_FUZZ_SEED", "20261201"))
# An event stream never ends (a request would wait forever); test_gateway_events.py covers it.
SKIP = frozenset({"GET /jobs/events"})
# Every request says it comes from this address (a documentation range): the failed logins and
# signups fuzzing sends are throttled there, not at 127.0.0.1 where the other tests log in.
FUZZ_CLIENT = "203.0.113.77"


@pytest.fixture(scope="module")
def user(world: GatewayWorld) -> User:
    """Signed up before any fuzzing (its logins' failures soon throttle their client)."""
    return sign_up(world.auth_url, prefix="fuzz")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", ["gateway", "auth"])
def test_fuzz_answers_match_the_openapi_document(
    service: str, user: User, world: GatewayWorld, gateway: GatewayProcess
) -> None:
    base_url = gateway.url if service == "gateway" else world.auth_url
    headers = {"Authorization": f"Bearer {user.token}", "X-Forwarded-For": FUZZ_CLIENT}
    totals = fuzz(service, base_url, headers, EXAMPLES, SEED, SKIP)
    print(totals.line())
    for name, detail in totals.failures.items():
        print(f"--- {name}\n{detail}\n")
    assert totals.operations > 0
    assert not totals.failures, "\n".join(totals.failures)
