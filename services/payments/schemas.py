"""Payments' requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from shared.inputs import InputModel, MoneyText

# A bank's BIC, as the route table and the bank's caller name it.
BankCode = Annotated[str, Path(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", examples=["HSBKKZKX"],
                               description="The bank's BIC; a bank acts only under its own")]


FailureReason = Literal["account_closed", "iban_invalid", "account_blocked", "beneficiary_deceased",
                        "beneficiary_mismatch", "other"]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-12"], description="YYYY-MM")]


class PaymentStatusIn(InputModel):
    """A bank's report of one order: `settled` with the amount it paid (whole tenge, as decimal
    text or an integer), or `failed` with a reason."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"order_id": "0193a1b2-c3d4-7e5f-8a9b-000000000005", "status": "settled", "amount": "25596"},
        {"order_id": "0193a1b2-c3d4-7e5f-8a9b-000000000006", "status": "failed", "reason": "account_closed"},
    ]})

    order_id: UUID
    status: Literal["settled", "failed"]
    amount: MoneyText | None = None
    reason: FailureReason | None = None


class ReleaseIn(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"month": "2026-12"}]})

    month: Month


class ReissueIn(InputModel):
    """The corrected account the portal (for the applicant) or a case worker gives."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"iban": "KZ86125KZT5004100100", "bank_code": "KCJBKZKX"}]})

    iban: str = Field(pattern=r"^KZ\d{2}[0-9A-Z]{16}$", examples=["KZ86125KZT5004100100"])
    bank_code: str = Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", examples=["KCJBKZKX"])


class BatchAckIn(InputModel):
    """Optionally the checksum the bank computed over the orders it pulled: a different one is refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"checksum": "9f2c…"}]})

    checksum: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    payment_id: UUID
    month: str
    component: Literal["tsa", "child_supplement"]
    amount: int
    bank_code: str
    status: str
    reason: str | None
    batch_id: UUID | None
    reissue_of: UUID | None


_PAYMENT_EXAMPLE: dict[str, Any] = {
    "id": "0193a1b2-c3d4-7e5f-8a9b-000000000005", "application_id": "0193a1b2-c3d4-7e5f-8a9b-000000000002",
    "decision_id": "0193a1b2-c3d4-7e5f-8a9b-000000000003", "month": "2026-12", "tsa": 25596,
    "child_supplement": 6488, "total": 32084, "bank_code": "HSBKKZKX", "status": "planned", "status_reason": None,
    "orders": []}


class PaymentOut(BaseModel):
    """A plan month with the orders that pay it (none until its month is released)."""

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
    orders: list[OrderOut] = []


class BankOrderOut(OrderOut):
    """An order as its bank executes it: with the account to credit."""

    iban: str = Field(validation_alias=AliasChoices("iban", "bank_iban"))


class BatchSummary(BaseModel):
    id: UUID
    bank_code: str
    month: str
    count: int
    total: int
    checksum: str


class BatchOut(BatchSummary):
    released_at: datetime
    acknowledged_at: datetime | None
    orders: list[BankOrderOut]


class ReleaseOut(BaseModel):
    month: str
    orders_created: int
    reissues_released: int
    batches: list[BatchSummary]


class Figure(BaseModel):
    count: int
    tenge: int


class BankReconciliation(BaseModel):
    bank_code: str
    ordered: Figure
    settled: Figure
    failed: Figure
    reissued: Figure
    recalled: Figure
    cancelled: Figure
    outstanding: Figure
    pending_reissue: Figure
    unexplained_tenge: int = Field(description="ordered − settled − failed − recalled − outstanding: always 0")


class AnomalyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    kind: str
    bank_code: str | None
    month: str | None
    order_id: UUID | None
    amount: int | None
    detail: str
    detected_at: datetime


class MismatchOut(BaseModel):
    application_id: UUID
    month: str
    due: int
    settled: int
    bank_code: str


class ReconciliationOut(BaseModel):
    month: str
    bank_code: str | None
    banks: list[BankReconciliation]
    anomalies: list[AnomalyOut]
    mismatches: list[MismatchOut] = Field(description="Plan months paid more than the decision (or anything when "
                                                      "cancelled), or fully settled yet not the decision's total")
    families_fully_paid: int
    families_due: int


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.

