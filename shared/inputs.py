"""Input hygiene every service applies the same way, before any rule sees a value.

- No string anywhere — body field, query parameter, path — may hold a control character (NUL and
  the rest of Unicode's Cc category): PostgreSQL cannot store NUL in text, logs and terminals
  misread the others, and no name, code or note needs one. The answer is 422 naming the field.
- A body must be JSON (`application/json` or `*+json`): anything else is 415 before parsing.

`InputModel` is the base of every request body (extra fields refused, strings checked);
`InputHygieneMiddleware` checks what pydantic never sees whole: the raw query and path.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import problem_response
from shared.regions import is_registered_kato

CONTROL_MESSAGE = "must not contain control characters"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def has_control_character(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text) if not text.isprintable() else False


def _check(value: Any) -> None:
    if isinstance(value, str):
        if has_control_character(value):
            raise ValueError(CONTROL_MESSAGE)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _check(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key)
            _check(item)


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused and no string holds a control character."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        _check(value)
        return value


def _json_content_type(value: bytes) -> bool:
    media = value.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


class InputHygieneMiddleware:
    """422 for a control character in the path or a query parameter; 415 for a body that is not
    JSON. Runs before routing, so every route — and every unknown one — is covered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is not None:
            await problem(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _problem(scope: Scope):  # noqa: ANN205
        path = scope["path"]
        errors = []
        if has_control_character(path):
            errors.append({"field": "path", "message": CONTROL_MESSAGE})
        query = scope.get("query_string") or b""
        if query:
            try:
                pairs = parse_qsl(query.decode("utf-8"), keep_blank_values=True, errors="strict")
            except (UnicodeDecodeError, ValueError):
                errors.append({"field": "query", "message": "must be UTF-8, percent-encoded"})
                pairs = []
            for name, value in pairs:
                if has_control_character(name) or has_control_character(value):
                    errors.append({"field": f"query.{name if not has_control_character(name) else '?'}",
                                   "message": CONTROL_MESSAGE})
        if errors:
            return problem_response(status=422, slug="validation-error", title="Invalid input",
                                    detail=f"The request has {len(errors)} invalid field(s).", errors=errors,
                                    instance=path)
        if scope["method"] in BODY_METHODS:
            content_type = None
            has_body = False
            for name, value in scope["headers"]:
                if name == b"content-type":
                    content_type = value
                elif name == b"content-length":
                    has_body = has_body or value.strip() not in (b"", b"0")
                elif name == b"transfer-encoding":
                    has_body = True
            if has_body and (content_type is None or not _json_content_type(content_type)):
                return problem_response(
                    status=415, slug="unsupported-media-type", title="Unsupported media type",
                    detail="The request body must be JSON (Content-Type: application/json).",
                    errors=[{"field": "header.Content-Type", "message": "must be application/json"}], instance=path,
                    headers={"Accept-Post": "application/json"})
        return None


def _registered_kato(kato: str) -> str:
    if not is_registered_kato(kato):
        raise ValueError("not a code of the KATO classifier Qamqor ships (its regions and cities, e.g. "
                         "610000000 Turkestan region)")
    return kato


# A region or settlement, wherever it comes in (body, query or path): a KATO code of the shipped table.
RegisteredKato = Annotated[str, Field(pattern=r"^\d{9}$", description="A KATO code of the shipped classifier",
                                      examples=["610000000"]), AfterValidator(_registered_kato)]


MAX_AMOUNT = Decimal("1000000000.00")  # a billion tenge: above any income or expense a family reports
Money = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, decimal_places=2,
                                 description="Tenge, at most 2 decimals, 0 to 1,000,000,000.00")]



def _not_a_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("money is a decimal string such as \"1000.50\", never a JSON number with a fraction")
    return value


# Money as an external system must send it (a bank's answer): a decimal string or an integer,
# never a binary float that may already have lost a tiyn.
MoneyText = Annotated[Money, BeforeValidator(_not_a_float)]
