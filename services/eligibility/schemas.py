"""Requests and responses of the eligibility API; `to_case` turns an estimate request into the
domain's `Case` (stored decisions keep their input in the domain's own record format, not this).

Every request is checked at the door, each field by itself (the rules engine then checks the
family as a whole): amounts bounded, codes registered, dates within the years Qamqor works in."""

from __future__ import annotations

from collections.abc import Iterable

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema

from services.eligibility.domain import (
    INCOME_TYPES,
    PARAMETER_KINDS,
    RELATIONS,
    Case,
    Expenses,
    History,
    Income,
    Member,
)
from shared.calendar import parse_month
from shared.inputs import InputModel, Money, RegisteredKato

# ---- checked at the door ----------------------------------------------------------------------

Iin = Annotated[str, Field(pattern=r"^\d{12}$", description="Individual identification number (12 digits)")]
# Qamqor's years: the rules' dates, quarters and months stay well inside what a date can hold.
WorkingDate = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2099, 12, 31))]
BirthDate = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2099, 12, 31))]
Month = Annotated[str, Field(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM",
                             examples=["2026-07"])]
ParameterName = Literal[tuple(PARAMETER_KINDS)]  # type: ignore[valid-type]


class MemberIn(InputModel):
    iin: Iin
    birth_date: BirthDate
    sex: Literal["male", "female"]
    relation: Literal[RELATIONS]  # type: ignore[valid-type]
    employed: bool = False
    full_time_student: bool = False
    disability_group: Literal[1, 2, 3] | None = None
    carer: bool = False
    # Accepted so a member can be sent as the application has it; the rules do not read them.
    full_name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    phone: str | None = Field(default=None, pattern=r"^\+7\d{10}$")


class IncomeIn(InputModel):
    iin: Iin
    type: Literal[INCOME_TYPES]  # type: ignore[valid-type]
    month: Month
    amount: Money
    source: str | None = Field(default=None, max_length=40)


class ExpensesIn(InputModel):
    consent: bool
    home_or_car_purchase: bool = False
    non_mortgage_loans: Money = Decimal(0)
    account_spending: Money = Decimal(0)
    deposits: Money = Decimal(0)


class HistoryIn(InputModel):
    ban_until: WorkingDate | None = None
    # A family member's social contract terminated through the recipient's fault on this day: the
    # rules bar a new assignment for `ban_months` from it.
    contract_terminated_on: WorkingDate | None = None
    false_information: bool = False


class EstimateIn(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "region_kato": "150000000", "application_date": "2026-04-15",
        "members": [
            {"iin": "900505400013", "birth_date": "1990-05-05", "sex": "female", "relation": "applicant"},
            {"iin": "150505500018", "birth_date": "2015-05-05", "sex": "male", "relation": "child"}],
        "incomes": [{"iin": "900505400013", "type": "wage", "month": month, "amount": "40000.00"}
                    for month in ("2026-01", "2026-02", "2026-03")],
    }]})

    region_kato: RegisteredKato
    application_date: WorkingDate
    # A what-if: the estimate of an extension (on an application the system sets it, never a caller).
    extension: bool = False
    members: list[MemberIn] = Field(min_length=1, max_length=30)
    incomes: list[IncomeIn] = Field(default_factory=list, max_length=2000)
    expenses: ExpensesIn | None = None
    history: HistoryIn = Field(default_factory=HistoryIn)


def members_of(members: Iterable[Any]) -> tuple[Member, ...]:
    """The rules' members from anything that carries their facts (a request, an event)."""
    return tuple(Member(iin=m.iin, birth_date=m.birth_date, sex=m.sex, relation=m.relation, employed=m.employed,
                        full_time_student=m.full_time_student, disability_group=m.disability_group, carer=m.carer)
                 for m in members)


def incomes_of(incomes: Iterable[Any]) -> tuple[Income, ...]:
    """The rules' incomes from anything that carries them (months as YYYY-MM)."""
    return tuple(Income(iin=i.iin, type=i.type, month=parse_month(i.month), amount=i.amount) for i in incomes)


def to_case(body: EstimateIn) -> Case:
    return Case(
        region_kato=body.region_kato,
        application_date=body.application_date,
        extension=body.extension,
        members=members_of(body.members),
        incomes=incomes_of(body.incomes),
        expenses=None if body.expenses is None else Expenses(**body.expenses.model_dump()),
        history=History(ban_until=body.history.ban_until, contract_terminated_on=body.history.contract_terminated_on,
                        false_information=body.history.false_information),
    )


def _parameter_value(raw: Any) -> Any:
    """What an administrator may send as a value, before the parameter's own kind is checked."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise ValueError("must be a finite number")
        return Decimal(str(raw))
    if isinstance(raw, str) and len(raw) <= 100:
        return raw
    if isinstance(raw, list) and len(raw) <= 50 and all(isinstance(t, str) and len(t) <= 40 for t in raw):
        return raw
    raise ValueError("must be a number, a decimal as text (at most 100 characters), true or false, or a list "
                     "of at most 50 income types")


ParameterValueIn = Annotated[Any, PlainValidator(_parameter_value), WithJsonSchema({
    "anyOf": [{"type": "number"}, {"type": "string", "maxLength": 100}, {"type": "boolean"},
              {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 40}}],
    "description": "A decimal (a JSON number or text), true/false, or a list of income types, as the "
                   "parameter's kind wants"})]


class ParameterIn(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "mci", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "value": "4600"},
        {"name": "poverty_line_median_share", "valid_from": "2027-01-01", "value": "0.4"},
    ]})

    name: ParameterName
    region_kato: RegisteredKato | None = None
    valid_from: WorkingDate
    valid_to: WorkingDate | None = None
    value: ParameterValueIn
    # A value more than 50 % away from the one it follows is refused unless this says it is meant.
    confirm_large_change: bool = False


# ---- responses ------------------------------------------------------------------------------
# Amounts the rules report as strings (poverty line, per-capita income, decimals) stay strings, and
# times keep Python's ISO form, so stored decisions and responses read the same.

IsoDateTime = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str)]


_DECISION_EXAMPLE: dict[str, Any] = {
    "eligible": True, "kind": "conditional", "assessment_quarter": "2026-Q1",
    "period": {"quarter": "2026-Q2", "months": ["2026-04", "2026-05", "2026-06"]},
    "poverty_line": "37060", "per_capita_income": "20000.00", "members": 2,
    "monthly": [{"month": month, "tsa": 34120, "child_supplement": 0, "total": 34120}
                for month in ("2026-04", "2026-05", "2026-06")],
    "large_family_allowance": [],
    "reasons": [{"code": "INCOME_BELOW_POVERTY_LINE",
                 "params": {"per_capita_income": "20000.00", "poverty_line": 37060,
                            "counted_income_total": "120000.00", "members": 2}},
                {"code": "CONDITIONAL_ABLE_BODIED", "params": {"able_bodied_members": 1, "members": 2}}],
    "ignored_incomes": [],
    "parameters": [{"name": "median_income", "region_kato": "150000000", "value": "105886",
                    "valid_from": "2026-01-01", "recorded_at": "2023-12-01T00:00:00+00:00"}],
    "rules_version": "tsa-2025.2",
}
_EXPLAINED_EXAMPLE: dict[str, Any] = _DECISION_EXAMPLE | {"reasons": [
    {"code": "INCOME_BELOW_POVERTY_LINE",
     "message": "Average monthly income per family member, 20 000.00 ₸, is below the poverty line of 37 060 ₸.",
     "params": {"per_capita_income": "20000.00", "poverty_line": 37060, "counted_income_total": "120000.00",
                "members": 2}},
    {"code": "CONDITIONAL_ABLE_BODIED",
     "message": "The family has 1 able-bodied member(s): assistance is conditional on a signed social contract.",
     "params": {"able_bodied_members": 1, "members": 2}}]}
_PARAMETER_EXAMPLE: dict[str, Any] = {
    "id": "0193a1b2-c3d4-7e5f-8a9b-000000000010", "name": "mci", "region_kato": None,
    "valid_from": "2027-01-01", "valid_to": "2027-12-31", "value": "4600",
    "recorded_at": "2026-11-30T09:00:00+00:00", "recorded_by": "admin-1"}


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

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_DECISION_EXAMPLE]})

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

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_EXPLAINED_EXAMPLE]})

    reasons: list[ExplainedReasonOut]


class StoredDecisionOut(_Out):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193a1b2-c3d4-7e5f-8a9b-000000000003", "application_id": "0193a1b2-c3d4-7e5f-8a9b-000000000002",
        "evidence_id": "0193a1b2-c3d4-7e5f-8a9b-000000000001", "decided_at": "2026-04-15T10:00:00+00:00",
        "input": {"format": 2, "region_kato": "150000000", "application_date": "2026-04-15", "extension": False,
                  "members": [], "incomes": [], "expenses": None,
                  "history": {"ban_until": None, "contract_terminated_on": None, "false_information": False}},
        "decision": _DECISION_EXAMPLE}]})

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
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_PARAMETER_EXAMPLE]})

    id: UUID
    name: str
    region_kato: str | None
    valid_from: date
    valid_to: date | None
    value: Any
    recorded_at: IsoDateTime
    recorded_by: str


class ParametersOut(_Out):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "parameters": [_PARAMETER_EXAMPLE],
        "effective": {"name": "mci", "region_kato": None, "value": "4600", "valid_from": "2027-01-01",
                      "recorded_at": "2026-11-30T09:00:00+00:00"}}]})

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


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.



# ---- reassessment runs (issue 12) -------------------------------------------------------------

Quarter = Annotated[str, Field(pattern=r"^20\d{2}-Q[1-4]$", description="YYYY-Qn: the quarter to assign",
                               examples=["2027-Q1"])]


class ReassessmentIn(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"quarter": "2027-Q1"}]})

    quarter: Quarter


class ReassessmentProgressOut(BaseModel):
    phase: str  # counting | deciding | done
    families_total: int
    families_done: int
    chunks_done: int


class RegionAmountOut(BaseModel):
    region_kato: str
    families: int
    amount: int  # whole tenge for the quarter (TSA and child supplement)


class ReassessmentTotalsOut(BaseModel):
    extended: int
    ended: dict[str, int]  # refusing reason code → families (a family may have more than one)
    review: dict[str, int]  # why families were listed for a case worker → families
    amount: int  # whole tenge for the quarter, every extended family
    amounts_by_region: list[RegionAmountOut]
    # seconds spent so far per phase (read the register, checks, extract, decide, write), summed over chunks
    seconds: dict[str, float] = {}


_RUN_EXAMPLE = {
    "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "quarter": "2027-Q1", "ending_quarter": "2026-Q4",
    "status": "running", "started_at": "2026-12-20T05:00:00Z", "updated_at": "2026-12-20T05:00:41Z",
    "finished_at": None, "error": None,
    "progress": {"phase": "deciding", "families_total": 1000000, "families_done": 350000, "chunks_done": 7},
    "totals": {"extended": 301000, "ended": {"INCOME_NOT_BELOW_POVERTY_LINE": 48000, "BAN_ACTIVE": 400},
               "review": {"member_in_another_family": 350, "contract_needed": 250}, "amount": 28350000000,
               "amounts_by_region": [{"region_kato": "610000000", "families": 52000, "amount": 4900000000}],
               "seconds": {"read": 6.1, "checks": 1.2, "extract": 9.8, "decide": 0.6, "write": 14.2}},
}


class ReassessmentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RUN_EXAMPLE]})

    id: UUID
    quarter: str
    ending_quarter: str
    status: str  # running | failed | completed
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    progress: ReassessmentProgressOut
    totals: ReassessmentTotalsOut


class ReviewItemOut(BaseModel):
    family_id: UUID
    application_id: UUID
    region_kato: str
    reason: str  # member_in_another_family | contract_needed
    listed_at: datetime


class ReviewOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "run_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "families": [{
            "family_id": "0190a1b2-0000-7e5f-8a9b-0c1d2e3f4a5b", "application_id": "0190a1b2-0000-7e5f-8a9b-0c1d2e3f4a5b",
            "region_kato": "610000000", "reason": "member_in_another_family", "listed_at": "2026-12-20T05:00:12Z"}]}]})

    run_id: UUID
    families: list[ReviewItemOut]
