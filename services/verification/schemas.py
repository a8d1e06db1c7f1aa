"""Verification's responses."""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from shared.inputs import InputModel, MoneyText


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IncomeOut(_Out):
    iin: str
    type: str
    month: str
    amount: Decimal
    source: str


class PurchaseOut(_Out):
    iin: str
    registry: str
    kind: str
    date: Date


class ExpensesOut(_Out):
    consent: bool
    purchases: list[PurchaseOut]
    account_spending: Decimal
    non_mortgage_loans: Decimal
    savings_deposits: Decimal


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
    purchases: list[PurchaseOut] = []
    expenses: ExpensesOut | None = Field(
        default=None, description="The expense facts the rules read (E1–E4); null when expenses were not checked")
    consents: list[dict[str, Any]] = Field(
        default=[], description="Each adult's consent record (ISO/IEC TS 27560 fields) as it stood when frozen")
    bank_answers: list[dict[str, Any]] = Field(
        default=[], description="Each bank asked: when, and its aggregates (kept only with the family's consent)")
    sources: dict[str, Any]
    collected_at: datetime


# ---- a bank's answer ----------------------------------------------------------------------------

Quarter = Annotated[str, Field(pattern=r"^20\d{2}-Q[1-4]$", examples=["2026-Q3"])]


class CashflowIn(InputModel):
    """A bank's aggregates of the assessment quarter for the person a request asked about."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "request_id": "0193a1b2-c3d4-7e5f-8a9b-000000000010", "iin": "900517401231", "quarter": "2026-Q3",
        "total_spending": "412000.50", "non_mortgage_loans": "0.00", "savings_deposits": "150000.00",
        "housing_deposits": "0.00"}]})

    request_id: UUID
    iin: str = Field(pattern=r"^\d{12}$")
    quarter: Quarter
    total_spending: MoneyText
    non_mortgage_loans: MoneyText = Field(description="Non-mortgage loans and microcredits taken in the quarter")
    savings_deposits: MoneyText = Field(description="Savings deposits at the end of the quarter, housing deposits apart")
    housing_deposits: MoneyText = Field(default=Decimal(0), description="Housing/mortgage deposits: reported, never counted")


class CashflowOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"request_id": "0193a1b2-c3d4-7e5f-8a9b-000000000010", "status": "recorded"}]})

    request_id: UUID
    status: Literal["recorded", "already_recorded", "discarded"] = Field(
        description="recorded; already_recorded (the same answer again: no second effect); discarded (the "
                    "family's consent was withdrawn: the figures are not kept)")


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.

