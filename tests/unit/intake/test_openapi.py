"""Intake's OpenAPI says exactly what it does: every operation has a typed answer with an
example, and its real error answers are problem+json (never FastAPI's default 422 schema)."""

from __future__ import annotations

from functools import cache

import pytest

from services.intake.main import create_app
from services.intake.settings import IntakeSettings

EXPECTED_ERRORS = {
    ("post", "/v1/applications"): {"400", "403", "409", "415", "422", "503"},
    ("get", "/v1/applications"): {"403", "422"},
    ("get", "/v1/applications/{application_id}"): {"403", "404", "422"},
    ("post", "/v1/applications/{application_id}/withdraw"): {"400", "403", "404", "409", "415", "422"},
    ("get", "/v1/fdc/families/{iin}/status"): {"403", "422"},
    ("get", "/v1/reference/banks"): {"403", "422"},
    ("put", "/v1/reference/banks/{bic}"): {"400", "403", "409", "415", "422"},
    ("get", "/v1/business-days"): {"403", "422"},
    ("put", "/v1/business-days/{day}"): {"400", "403", "415", "422"},
    ("post", "/v1/sms/inbound"): {"400", "403", "415", "422"},
    ("post", "/v1/consents/{consent_id}/reply"): {"400", "403", "404", "415", "422"},
    ("post", "/v1/consents/{consent_id}/withdraw"): {"403", "404", "422"},
    ("post", "/v1/fdc/invitations"): {"400", "403", "415", "422"},
    ("get", "/v1/fdc/invitations"): {"403", "422"},
    ("get", "/v1/fdc/funnel"): {"403", "422"},
}


@cache
def document() -> dict:
    return create_app(IntakeSettings(environment="test")).openapi()


def _resolve(schema: dict) -> dict:
    if "$ref" in schema:
        return document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if schema.get("type") == "array":
        return _resolve(schema["items"])
    return schema


def test_every_operation_is_listed():
    operations = {(method, path) for path, item in document()["paths"].items() for method in item}
    assert operations == set(EXPECTED_ERRORS)


@pytest.mark.parametrize("method, path", sorted(EXPECTED_ERRORS))
def test_each_operation_documents_its_answer_and_its_problems(method, path):
    operation = document()["paths"][path][method]
    responses = operation["responses"]
    success = next(code for code in responses if code.startswith("2"))
    schema = _resolve(responses[success]["content"]["application/json"]["schema"])
    assert schema.get("examples"), f"{method} {path}: no example of its answer"
    assert {code for code in responses if code[0] in "45"} == EXPECTED_ERRORS[(method, path)]
    for code, response in responses.items():
        if code[0] not in "45":
            continue
        content = response["content"]
        assert list(content) == ["application/problem+json"], (code, list(content))
        problem = content["application/problem+json"]["schema"]
        assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])
        examples = content["application/problem+json"]["examples"]
        assert examples and all(e["value"]["status"] == int(code) for e in examples.values())
    assert "HTTPValidationError" not in str(operation)
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "path":
            assert "{" + parameter["name"] + "}" in path


def test_the_masked_view_is_documented():
    members = document()["components"]["schemas"]["MemberOut"]["properties"]
    assert {"type": "null"} in members["birth_date"]["anyOf"]
    assert "masked" in members["iin"]["description"] and "masked" in members["phone"]["description"]
