"""schemathesis against the served OpenAPI document of a real gateway and orchestrator (real
NATS and Postgres): no 5xx, and every response conforms to the documented schema."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from llmctl_libs.ids import new_id

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import ApiStack

pytestmark = pytest.mark.timeout(300)

EXAMPLES_PER_OPERATION = 20
"""Bounded so the whole run stays well under two minutes on two cores."""

# Every built-in check runs (no 5xx, documented status codes, content types, headers and
# response schemas, schema-violating requests refused) except "schema-valid data is
# accepted": a definition can satisfy the JSON Schema and still break a graph rule (one start
# node, connectors between existing nodes, ...), which is rightly a 422 naming the field.


API_EXTRA_SERVICES = ["router"]
"""The routing operations (``/api/v1/routing/...``) are answered by the router."""


def _fuzz(operation: Any, mode: GenerationMode, failures: list[str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        # Valid requests get a fresh key: a key schemathesis reuses with another body is
        # rightly refused (422 idempotency_mismatch), which is not what this test is about.
        headers = {"Idempotency-Key": new_id()} if mode is GenerationMode.POSITIVE else None
        try:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collected: one report naming every failing operation
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
            raise

    # already recorded (hypothesis stops an operation at its first failure)
    with contextlib.suppress(Exception, BaseExceptionGroup):
        check()


def test_no_server_error_and_responses_match_the_schema(api_stack: ApiStack) -> None:
    schema = schemathesis.openapi.from_url(f"{api_stack.services.gateway_url}/schema/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, failures)
    assert operations >= 16
    assert not failures, "\n\n".join(failures)
