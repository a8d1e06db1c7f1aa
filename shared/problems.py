"""The problems (RFC 9457 problem+json) a route answers with, documented in its OpenAPI.

Every service's error answers have one shape (`ProblemOut`, rendered by shared.errors). A route
declares the statuses it really answers with — `responses=problems({404: "No such contract, or
none the caller may see", ...})` — optionally with named examples of its own; this replaces
FastAPI's default 422 schema, which is not what a service sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field


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
    503: {"type": "https://qamqor.gov.kz/problems/service-unavailable", "title": "Service unavailable", "status": 503,
          "detail": "A value the check needs is not available yet; try again later."},
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


def problems(when: Mapping[int, str],
             examples: Mapping[int, Mapping[str, dict[str, Any]]] | None = None) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: each status it really answers with (status → when), as
    problem+json. `examples`: named examples per status (status → name → problem); without them
    a status shows the generic example."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status, description in when.items():
        media: dict[str, Any] = {"schema": _PROBLEM_SCHEMA}
        named = (examples or {}).get(status)
        if named:
            media["examples"] = {name: {"summary": value.get("title", name), "value": value}
                                 for name, value in named.items()}
        else:
            media["example"] = _PROBLEM_EXAMPLES[status]
        responses[status] = {"description": description, "content": {"application/problem+json": media}}
    return responses
