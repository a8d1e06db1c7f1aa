"""Requests and responses of the eligibility API; `to_case` turns an estimate request into the
domain's `Case` (stored decisions keep their input in the domain's own record format, not this)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from services.eligibility.domain import Case, Expenses, History, Income, Member
from shared.calendar import parse_month


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberIn(_In):
    iin: str = Field(pattern=r"^\d{12}$")
    birth_date: date
    sex: Literal["male", "female"]
    relation: Literal["applicant", "spouse", "child", "parent", "sibling", "grandparent", "grandchild", "other"]
    employed: bool = False
    full_time_student: bool = False
    disability_group: Literal[1, 2, 3] | None = None
    carer: bool = False
    # Accepted so a member can be sent as the application has it; the rules do not read them.
    full_name: str | None = None
    phone: str | None = None


class IncomeIn(_In):
    iin: str = Field(pattern=r"^\d{12}$")
    type: str
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    amount: Decimal
    source: str | None = None


class ExpensesIn(_In):
    consent: bool
    home_or_car_purchase: bool = False
    non_mortgage_loans: Decimal = Decimal(0)
    account_spending: Decimal = Decimal(0)
    deposits: Decimal = Decimal(0)


class HistoryIn(_In):
    ban_until: date | None = None
    # A family member's social contract terminated through the recipient's fault on this day: the
    # rules bar a new assignment for `ban_months` from it.
    contract_terminated_on: date | None = None
    false_information: bool = False


class EstimateIn(_In):
    region_kato: str
    application_date: date
    extension: bool = False
    members: list[MemberIn] = Field(min_length=1, max_length=30)
    incomes: list[IncomeIn] = Field(default_factory=list, max_length=2000)
    expenses: ExpensesIn | None = None
    history: HistoryIn = Field(default_factory=HistoryIn)


def to_case(body: EstimateIn) -> Case:
    return Case(
        region_kato=body.region_kato,
        application_date=body.application_date,
        extension=body.extension,
        members=tuple(Member(iin=m.iin, birth_date=m.birth_date, sex=m.sex, relation=m.relation,
                             employed=m.employed, full_time_student=m.full_time_student,
                             disability_group=m.disability_group, carer=m.carer) for m in body.members),
        incomes=tuple(Income(iin=i.iin, type=i.type, month=parse_month(i.month), amount=i.amount)
                      for i in body.incomes),
        expenses=None if body.expenses is None else Expenses(**body.expenses.model_dump()),
        history=History(ban_until=body.history.ban_until, contract_terminated_on=body.history.contract_terminated_on,
                        false_information=body.history.false_information),
    )


class ParameterIn(_In):
    name: str
    region_kato: str | None = None
    valid_from: date
    valid_to: date | None = None
    value: Any


# ---- responses ------------------------------------------------------------------------------
# Amounts the rules report as strings (poverty line, per-capita income, decimals) stay strings, and
# times keep Python's ISO form, so stored decisions and responses read the same.

IsoDateTime = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PeriodOut(_Out):
    quarter: str
    months: list[str]


class MonthlyPaymentOut(_Out):
    month: str
    tsa: int
    child_supplement: int
    total: int


class MonthlyAllowanceOut(_Out):
    month: str
    amount: int


class ReasonOut(_Out):
    code: str
    params: dict[str, Any]


class ExplainedReasonOut(_Out):
    code: str
    message: str  # in the caller's language
    params: dict[str, Any]


class IgnoredIncomeOut(_Out):
    iin: str
    type: str
    month: date
    amount: str
    reason: str


class ParameterUsedOut(_Out):
    """A parameter value as a decision used it (and as `effective` shows it)."""

    name: str
    region_kato: str | None
    value: Any
    valid_from: date
    recorded_at: IsoDateTime


class DecisionOut(_Out):
    """A decision as the rules made it (`Decision.to_dict()`)."""

    eligible: bool
    kind: Literal["conditional", "unconditional"]
    assessment_quarter: str
    period: PeriodOut
    poverty_line: str
    per_capita_income: str
    members: int
    monthly: list[MonthlyPaymentOut]
    large_family_allowance: list[MonthlyAllowanceOut]
    reasons: list[ReasonOut]
    ignored_incomes: list[IgnoredIncomeOut]
    parameters: list[ParameterUsedOut]
    rules_version: str


class EstimateOut(DecisionOut):
    """A decision with each reason explained in the caller's language."""

    reasons: list[ExplainedReasonOut]


class StoredDecisionOut(_Out):
    id: UUID
    application_id: UUID
    evidence_id: UUID
    decided_at: IsoDateTime
    input: dict[str, Any]  # the decision record, in the format it was stored in
    decision: DecisionOut
    # only with ?recompute=true: the decision made again with the parameters known when it was made
    recomputed: EstimateOut | None = None
    recomputed_identical: bool | None = None


class ParameterOut(_Out):
    id: UUID
    name: str
    region_kato: str | None
    valid_from: date
    valid_to: date | None
    value: Any
    recorded_at: IsoDateTime
    recorded_by: str


class ParametersOut(_Out):
    parameters: list[ParameterOut]
    # only when both `name` and `on` are asked: the value in effect (null if none)
    effective: ParameterUsedOut | None = None


def language(accept_language: str | None) -> str:
    """The first of kk, ru, en named in Accept-Language; English by default."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in ("kk", "ru", "en"):
            return tag
    return "en"
