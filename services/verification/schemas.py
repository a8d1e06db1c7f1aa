"""Verification's responses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IncomeOut(_Out):
    iin: str
    type: str
    month: str
    amount: Decimal
    source: str


class EvidenceOut(_Out):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "evidence_id": "0193a1b2-c3d4-7e5f-8a9b-000000000001",
        "application_id": "0193a1b2-c3d4-7e5f-8a9b-000000000002",
        "assessment_quarter": "2026-Q3",
        "incomes": [{"iin": "840303300071", "type": "wage", "month": "2026-07", "amount": "70000.00",
                     "source": "income_registry"}],
        "sources": {"income_registry": {"quarter": "2026-Q3", "members_queried": 2}},
        "collected_at": "2026-11-22T10:00:00Z",
    }]})

    evidence_id: UUID = Field(validation_alias=AliasChoices("evidence_id", "id"))
    application_id: UUID
    assessment_quarter: str
    incomes: list[IncomeOut]
    sources: dict[str, Any]
    collected_at: datetime


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.

class FieldErrorOut(BaseModel):
    field: str = Field(description="The field at fault: `members[0].iin`, `query.region_kato`, `path`, `body`…")
    message: str
    position: int | None = Field(default=None, description="Malformed JSON only: where the parser stopped")


class ProblemOut(BaseModel):
    type: str = Field(description="https://qamqor.gov.kz/problems/<slug>")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path, IINs masked")
    errors: list[FieldErrorOut] = Field(default_factory=list, description="Present when fields are at fault")


_PROBLEM_EXAMPLES: dict[int, dict[str, Any]] = {
    400: {"type": "https://qamqor.gov.kz/problems/malformed-json", "title": "Malformed JSON", "status": 400,
          "detail": "The request body is not valid JSON: EOF while parsing an object at position 17.",
          "errors": [{"field": "body", "message": "EOF while parsing an object at position 17", "position": 17}]},
    403: {"type": "https://qamqor.gov.kz/problems/forbidden", "title": "Forbidden", "status": 403,
          "detail": "A bank caller does not read families' cases."},
    404: {"type": "https://qamqor.gov.kz/problems/not-found", "title": "Not found", "status": 404,
          "detail": "Not found."},
    409: {"type": "https://qamqor.gov.kz/problems/conflict", "title": "Conflict", "status": 409,
          "detail": "The request conflicts with the current state."},
    415: {"type": "https://qamqor.gov.kz/problems/unsupported-media-type", "title": "Unsupported media type",
          "status": 415, "detail": "The request body must be JSON (Content-Type: application/json).",
          "errors": [{"field": "header.Content-Type", "message": "must be application/json"}]},
    422: {"type": "https://qamqor.gov.kz/problems/validation-error", "title": "Invalid input", "status": 422,
          "detail": "The request has 1 invalid field(s).",
          "errors": [{"field": "query.region_kato", "message": "must not contain control characters"}]},
}


def _self_contained(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with nested models written in place: a response declared by hand
    cannot point into the schema's own `$defs`."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


_PROBLEM_SCHEMA = _self_contained(ProblemOut)


def problems(when: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: each status it really answers with, when, as problem+json (this
    replaces FastAPI's default 422 schema, which is not what the service sends)."""
    return {status: {"description": description, "content": {"application/problem+json": {
        "schema": _PROBLEM_SCHEMA, "example": _PROBLEM_EXAMPLES[status]}}} for status, description in when.items()}
