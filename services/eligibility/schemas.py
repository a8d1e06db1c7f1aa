"""Requests and responses; `to_case` turns a request (or a stored decision input) into the
domain's `Case`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
        history=History(ban_until=body.history.ban_until, false_information=body.history.false_information),
    )


class ParameterIn(_In):
    name: str
    region_kato: str | None = None
    valid_from: date
    valid_to: date | None = None
    value: Any


def language(accept_language: str | None) -> str:
    """The first of kk, ru, en named in Accept-Language; English by default."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in ("kk", "ru", "en"):
            return tag
    return "en"
