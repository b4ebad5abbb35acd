"""Schemathesis over one service's OpenAPI document: every operation, positive and negative cases,
each response checked against what the document promises (status, headers, body schema), no 5xx
but a 503 with Retry-After, and every error answered as ``{"detail": ...}``.

Used by tests/integration/fuzz (bounded: a fixed seed, a few examples per operation) and by
``python -m tests.fuzz`` (``make fuzz``: the same with many more examples). Failures are collected,
not raised at once, so one run reports them all (Hypothesis does not shrink them: the request and
the answer are printed instead)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import CheckFunction, GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@dataclass
class Totals:
    """What one fuzz run did: operations, examples sent, and each distinct failure found."""

    service: str
    operations: int = 0
    examples: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # "METHOD /path: first line" -> detail

    def line(self) -> str:
        return (
            f"{self.service}: {self.operations} operations, {self.examples} examples, "
            f"{len(self.failures)} failures"
        )


def error_shape(response: schemathesis.Response) -> str | None:
    """Why an error answer breaks the API's rule (``{"detail": ...}``, 503 with Retry-After)."""
    if response.status_code >= 500 and not (
        response.status_code == 503 and "retry-after" in {k.lower() for k in response.headers}
    ):
        return f"{response.status_code} answered (only a 503 with Retry-After is allowed)"
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} answered with a body that is not JSON: {response.text[:200]!r}"
    if not isinstance(body, dict) or "detail" not in body:
        return f"{response.status_code} answered without a detail: {response.text[:200]!r}"
    return None


def fuzz(
    service: str,
    base_url: str,
    headers: dict[str, str],
    examples: int,
    seed: int,
    skip: frozenset[str] = frozenset(),
) -> Totals:
    """Fuzz every operation of the service at ``base_url`` (its document at /openapi.json) with
    ``examples`` cases per operation and generation mode; ``skip`` names "METHOD /path"s left out
    (with the reason at the caller)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)
    totals = Totals(service)
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the document describes wrongly is a failure too
            totals.operations += 1
            _record(totals, "schema", str(result.err()))
            continue
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in skip:
            continue
        totals.operations += 1
        for mode in MODES:
            _fuzz_operation(operation, mode, label, base_url, headers, examples, seed, totals)
    return totals


def _fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    label: str,
    base_url: str,
    headers: dict[str, str],
    examples: int,
    seed: int,
    totals: Totals,
) -> None:
    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        totals.examples += 1
        # Left out: bodies are checked beyond what JSON Schema says (an MP4 video with an audio
        # track, an email auth can normalise, a webhook URL that resolves), so a schema-valid body
        # answered a documented 4xx is right; and a "negative" case is often valid as sent (the
        # token is added to every request; unknown query parameters are ignored, as FastAPI does).
        excluded: list[CheckFunction] = [positive_data_acceptance, negative_data_rejection]
        try:
            response = case.call_and_validate(
                base_url=base_url, headers=headers, excluded_checks=excluded, timeout=60
            )
        except FailureGroup as group:  # every distinct failure of this one request
            for failure in group.exceptions:
                _record(totals, label, f"{failure}\n{case.as_curl_command(base_url=base_url)}")
            return
        except Failure as failure:
            _record(totals, label, f"{failure}\n{case.as_curl_command(base_url=base_url)}")
            return
        problem = error_shape(response)
        if problem:
            _record(totals, label, f"{problem}\n{case.as_curl_command(base_url=base_url)}")

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):  # nothing negative to generate
        run()


def _record(totals: Totals, label: str, text: str) -> None:
    first = next((line.strip() for line in text.splitlines() if line.strip()), text)
    totals.failures.setdefault(f"{label}: {first}", text)
