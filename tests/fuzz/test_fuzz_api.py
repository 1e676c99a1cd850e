"""Schemathesis over the merged OpenAPI document, against the whole stack behind the gateway, once per role.

Every generated request, valid by the schema and not, must get an answer that is not a 5xx, matches the response
schema of its status, and has a status the operation documents. The short run here is derandomized and bounded per
operation; `make fuzz` runs the same test with many more examples and every staff duty (FUZZ_EXAMPLES, FUZZ_ROLES).

The operations are driven one by one here rather than through `schema.parametrize()`, so that one run reports
every failing operation with its cases (not only the first), and how many cases ran.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from services.common.testing import bearer
from tests.fuzz.stack import Stack

SHORT_ROLES = "customer,leader,ops"
ROLES = os.environ.get("FUZZ_ROLES", SHORT_ROLES).split(",")
#: Examples per operation, role and mode (valid, invalid).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1"))
#: Generous: the suite shares its machine, and a slow answer is not what this test is about.
CALL_TIMEOUT_SECONDS = 120
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@dataclass
class Outcome:
    cases: int = 0
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def stack(database_urls: dict[str, str]) -> Iterator[Stack]:
    with Stack(database_urls).serve() as running:
        yield running


def _session(role: str) -> requests.Session:
    http = requests.Session()
    if role != "anonymous":
        http.headers.update(bearer(f"fuzz-{role}", [role]))
    return http


def _fuzz_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    http: requests.Session,
    examples: int,
    outcome: Outcome,
) -> None:
    seen: set[str] = set()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        outcome.cases += 1
        response = case.call(session=http, timeout=CALL_TIMEOUT_SECONDS)
        if response.status_code >= 500:
            outcome.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (FailureGroup, AssertionError) as exc:  # every check's failure, reported together below
            found = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
            what = "; ".join(getattr(f, "title", type(f).__name__) for f in found)
            key = f"{operation.label} {response.status_code} {what}"
            if key not in seen:
                seen.add(key)
                outcome.failures.append(f"{key}\n    {case.as_curl_command()}\n    {response.text[:300]}")

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, operation.label  # nothing in it can be made invalid


def fuzz(schema: schemathesis.BaseSchema, http: requests.Session, examples: int) -> Outcome:
    outcome = Outcome()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the merged document is valid OpenAPI (tests/e2e checks it)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(result.ok(), mode, http, examples, outcome)
    return outcome


@pytest.fixture(scope="module")
def document(stack: Stack) -> dict[str, Any]:
    """The merged document, fetched once (the gateway merges it afresh on every fetch in tests)."""
    response = httpx.get(f"{stack.base_url}/openapi.json", timeout=CALL_TIMEOUT_SECONDS)
    response.raise_for_status()
    merged: dict[str, Any] = response.json()
    return merged


@pytest.mark.parametrize("role", ROLES)
def test_no_request_gets_a_server_error_or_an_undocumented_answer(
    stack: Stack, document: dict[str, Any], role: str
) -> None:
    schema = schemathesis.openapi.from_dict(copy.deepcopy(document))
    schema.config.update(base_url=stack.base_url)
    with _session(role) as http:
        outcome = fuzz(schema, http, EXAMPLES)
    print(f"{role}: {outcome.cases} cases, {outcome.server_errors} server errors")
    assert outcome.failures == [], f"{len(outcome.failures)} failures\n" + "\n".join(outcome.failures)
