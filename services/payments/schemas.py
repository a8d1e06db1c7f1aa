"""Payments' requests and responses."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from shared.inputs import InputModel

# A bank's BIC, as the route table and the bank's caller name it.
BankCode = Annotated[str, Path(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", examples=["HSBKKZKX"],
                               description="The bank's BIC; a bank acts only under its own")]


class PaymentStatusIn(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"payment_id": "0193a1b2-c3d4-7e5f-8a9b-000000000005", "status": "settled"},
        {"payment_id": "0193a1b2-c3d4-7e5f-8a9b-000000000006", "status": "failed", "reason": "account closed"},
    ]})

    payment_id: UUID
    status: Literal["settled", "failed"]
    reason: str | None = Field(default=None, max_length=500)


_PAYMENT_EXAMPLE: dict[str, Any] = {
    "id": "0193a1b2-c3d4-7e5f-8a9b-000000000005", "application_id": "0193a1b2-c3d4-7e5f-8a9b-000000000002",
    "decision_id": "0193a1b2-c3d4-7e5f-8a9b-000000000003", "month": "2026-12", "tsa": 25596,
    "child_supplement": 6488, "total": 32084, "bank_code": "HSBKKZKX", "status": "scheduled", "status_reason": None}


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_PAYMENT_EXAMPLE]})

    id: UUID
    application_id: UUID
    decision_id: UUID
    month: str
    tsa: int
    child_supplement: int
    total: int
    bank_code: str
    status: str
    status_reason: str | None


class PaymentOrderOut(PaymentOut):
    """A payment as its bank executes it: with the account to credit."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        _PAYMENT_EXAMPLE | {"iban": "KZ86125KZT5004100100"}]})

    iban: str = Field(validation_alias=AliasChoices("iban", "bank_iban"))


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
