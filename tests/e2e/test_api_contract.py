"""The API does exactly what its OpenAPI document says (issue 8): schemathesis generates requests
for every operation of the gateway's merged `/openapi.json` — valid and invalid, within bounded
examples — and sends each with the token of every caller kind (a portal acting for a citizen, the
portal itself, the FDC, ops, a case worker, an administrator, a bank). Every answer must be
documented: no 5xx, a status and a content type the operation lists, a body that matches its
schema, and every error an RFC 9457 problem (application/problem+json)."""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qamqor_cli.demo import GatewayClient
from shared.errors import PROBLEM_JSON
from shared.iin import make_iin
from tests.e2e.conftest import caller_of

EXAMPLES_PER_OPERATION = 12
CITIZEN = make_iin(date(1979, 10, 28), "male", 3027)


@pytest.fixture(scope="session")
def api_schema(platform):  # noqa: ANN001, ANN201
    return schemathesis.openapi.from_url(platform.layout.url("gateway") + "/openapi.json")


@pytest.fixture(scope="session")
def bearers(platform, portal, citizen) -> dict[str, dict[str, str]]:  # noqa: ANN001
    gateway = platform.layout.url("gateway")
    tokens = {"citizen": citizen(CITIZEN).token, "portal": portal.token}
    for kind in ("fdc", "ops", "case_worker", "admin", "bank"):
        caller = caller_of(platform, kind)
        tokens[kind] = GatewayClient(gateway, caller["id"], caller["secret"]).token
    return {kind: {"Authorization": f"Bearer {token}"} for kind, token in tokens.items()}


def problem_json_errors(ctx, response, case) -> bool | None:  # noqa: ANN001 - schemathesis' check signature
    """Every 4xx/5xx answer is application/problem+json with the RFC 9457 members."""
    if response.status_code < 400:
        return None
    media = response.headers.get("content-type", [""])
    media = (media[0] if isinstance(media, list) else media).split(";")[0].strip()
    assert media == PROBLEM_JSON, f"{response.status_code} answered as {media!r}"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == response.status_code, body
    return None


problem_json_errors = schemathesis.check(problem_json_errors)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          problem_json_errors]

def test_every_operation_answers_as_documented_to_every_caller(api_schema, bearers) -> None:  # noqa: ANN001
    """One hypothesis run per operation (the schema exists only once the platform runs, so the
    operations are walked here rather than collected as separate tests); every failure of every
    operation is reported together."""
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def answers_as_documented(case) -> None:  # noqa: ANN001
            for kind, headers in bearers.items():
                response = case.call(headers=headers)
                try:
                    case.validate_response(response, checks=CHECKS)
                except AssertionError as failure:
                    raise AssertionError(f"as {kind}: {failure}") from None

        try:
            answers_as_documented()
        except Exception as failure:  # noqa: BLE001 - collected, reported below
            failures.append(f"{operation.label}: {str(failure)[:1500]}")
    assert operations >= 30, operations
    assert not failures, f"{len(failures)} of {operations} operations:\n\n" + "\n\n".join(failures)
