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

