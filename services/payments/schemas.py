"""Payments' requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

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
        {"iban": "KZ19856KZT1234567890", "bank_code": "KCJBKZKX"}]})

    iban: str = Field(pattern=r"^KZ\d{2}[0-9A-Z]{16}$", examples=["KZ19856KZT1234567890"],
                      description="Kazakh IBAN, 20 characters; its ISO 13616 check digits must hold")
    bank_code: str = Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", examples=["KCJBKZKX"],
                           description="The BIC of the bank holding the account: the bank the IBAN's bank "
                                       "code (characters 5-7) names in the national bank registry")

    @field_validator("iban")
    @classmethod
    def _check_digits(cls, iban: str) -> str:
        digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
        if int(digits) % 97 != 1:
            raise ValueError("the IBAN's check digits do not hold (ISO 13616 mod 97)")
        return iban

    @field_validator("bank_code")
    @classmethod
    def _bank_holds_the_account(cls, bank_code: str, info: ValidationInfo) -> str:
        """The order goes to the bank named here, the money to the IBAN: both must be one bank,
        or the order would sit in a batch its bank cannot pay (or no bank ever pulls)."""
        iban = info.data.get("iban")
        if iban is None:  # the IBAN itself is refused; that error says enough
            return bank_code
        try:
            registered = IBAN(iban).bic
        except SchwiftyException:
            registered = None
        if registered is None:
            raise ValueError(f"the IBAN's bank code {iban[4:7]} is no bank's in the national bank registry")
        if str(registered) != bank_code:
            raise ValueError(f"the IBAN is an account at bank code {iban[4:7]}, {registered}; not {bank_code}'s")
        return bank_code


_CHECKSUM = "5f1c1d0e8c7b2a4f0d5e9a1b3c6d8e0f2a4b6c8d0e1f3a5b7c9d1e3f5a7b9c0d"


class BatchAckIn(InputModel):
    """The checksum the bank computed over the orders it pulled: a different one is refused, so a
    batch is acknowledged only as it was released."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"checksum": _CHECKSUM}]})

    checksum: str = Field(pattern=r"^[0-9a-f]{64}$")


_ORDER_EXAMPLE: dict[str, Any] = {
    "id": "0193a1b2-c3d4-7e5f-8a9b-000000000007", "payment_id": "0193a1b2-c3d4-7e5f-8a9b-000000000005",
    "month": "2026-12", "component": "tsa", "amount": 25596, "bank_code": "HSBKKZKX", "status": "released",
    "reason": None, "batch_id": "0193a1b2-c3d4-7e5f-8a9b-000000000009", "reissue_of": None}


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_ORDER_EXAMPLE]})

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
    "child_supplement": 6488, "total": 32084, "bank_code": "HSBKKZKX", "status": "released", "status_reason": None,
    "orders": [_ORDER_EXAMPLE]}


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

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        _ORDER_EXAMPLE | {"iban": "KZ89601KZT1234567890"}]})

    iban: str = Field(validation_alias=AliasChoices("iban", "bank_iban"))


_BATCH_EXAMPLE: dict[str, Any] = {"id": "0193a1b2-c3d4-7e5f-8a9b-000000000009", "bank_code": "HSBKKZKX",
                                  "month": "2026-12", "count": 1, "total": 25596, "checksum": _CHECKSUM}


class BatchSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_BATCH_EXAMPLE]})

    id: UUID
    bank_code: str
    month: str
    count: int
    total: int
    checksum: str


class BatchOut(BatchSummary):
    model_config = ConfigDict(json_schema_extra={"examples": [_BATCH_EXAMPLE | {
        "released_at": "2026-12-01T04:00:00Z", "acknowledged_at": None,
        "orders": [_ORDER_EXAMPLE | {"iban": "KZ89601KZT1234567890"}]}]})

    released_at: datetime
    acknowledged_at: datetime | None
    orders: list[BankOrderOut]


class ReleaseOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"month": "2026-12", "orders_created": 1, "reissues_released": 0, "batches": [_BATCH_EXAMPLE]}]})

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


_FIGURE = {"count": 1, "tenge": 25596}
_NONE = {"count": 0, "tenge": 0}


class ReconciliationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "month": "2026-12", "bank_code": None,
        "banks": [{"bank_code": "HSBKKZKX", "ordered": _FIGURE, "settled": _FIGURE, "failed": _NONE,
                   "reissued": _NONE, "recalled": _NONE, "cancelled": _NONE, "outstanding": _NONE,
                   "pending_reissue": _NONE, "unexplained_tenge": 0}],
        "anomalies": [{"id": "0193a1b2-c3d4-7e5f-8a9b-00000000000a", "kind": "duplicate_settlement",
                       "bank_code": "HSBKKZKX", "month": "2026-12", "order_id": _ORDER_EXAMPLE["id"],
                       "amount": 25596, "detail": "settled report refused: …",
                       "detected_at": "2026-12-03T10:00:00Z"}],
        "mismatches": [], "families_due": 1, "families_fully_paid": 1}]})

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

