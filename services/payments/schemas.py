"""Payments' requests and responses."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class PaymentStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: UUID
    status: Literal["settled", "failed"]
    reason: str | None = Field(default=None, max_length=500)


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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

    iban: str = Field(validation_alias=AliasChoices("iban", "bank_iban"))
