"""The input of a decision as it is stored, so the decision can be recomputed years later.

The format belongs to the rules, not to the estimate API: the HTTP schema may change without
breaking the recomputation of old decisions. Every record carries its `format`; readers keep
reading every format ever written.

- format 2 (written now): the facts the rules read and nothing else (no names or phones).
- format 1 (written before): the `EstimateIn` request body as pydantic dumped it, without a
  `format` key; members carry `full_name` and `phone`, incomes a `source`, which the rules ignore.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from shared.calendar import month_label, parse_month

from .model import Case, Expenses, History, Income, Member

RECORD_FORMAT = 2
_LEGACY_FORMAT = 1  # the EstimateIn dump: the only format without a "format" key


def case_to_record(case: Case) -> dict[str, Any]:
    """A `Case` → a JSON-ready record of the current format."""
    expenses = case.expenses
    return {
        "format": RECORD_FORMAT,
        "region_kato": case.region_kato,
        "application_date": case.application_date.isoformat(),
        "extension": case.extension,
        "members": [
            {"iin": m.iin, "birth_date": m.birth_date.isoformat(), "sex": m.sex, "relation": m.relation,
             "employed": m.employed, "full_time_student": m.full_time_student,
             "disability_group": m.disability_group, "carer": m.carer}
            for m in case.members
        ],
        "incomes": [
            {"iin": i.iin, "type": i.type, "month": month_label(i.month), "amount": str(i.amount)}
            for i in case.incomes
        ],
        "expenses": None if expenses is None else {
            "consent": expenses.consent,
            "home_or_car_purchase": expenses.home_or_car_purchase,
            "non_mortgage_loans": str(expenses.non_mortgage_loans),
            "account_spending": str(expenses.account_spending),
            "deposits": str(expenses.deposits),
        },
        "history": {
            "ban_until": _iso(case.history.ban_until),
            "contract_terminated_on": _iso(case.history.contract_terminated_on),
            "false_information": case.history.false_information,
        },
    }


def case_from_record(record: dict[str, Any]) -> Case:
    """A stored record of any format → the `Case` it describes. Raises ValueError for a format
    this code does not know (a record written by a newer release)."""
    version = record.get("format", _LEGACY_FORMAT)
    if version not in (_LEGACY_FORMAT, RECORD_FORMAT):
        raise ValueError(f"unknown decision record format {version!r}")
    # Format 2 is format 1 without what the rules ignore, plus the termination date: one reader
    # serves both, reading only the keys the rules need.
    history = record.get("history") or {}
    expenses = record.get("expenses")
    return Case(
        region_kato=record["region_kato"],
        application_date=date.fromisoformat(record["application_date"]),
        extension=bool(record.get("extension", False)),
        members=tuple(
            Member(iin=m["iin"], birth_date=date.fromisoformat(m["birth_date"]), sex=m["sex"],
                   relation=m["relation"], employed=bool(m.get("employed", False)),
                   full_time_student=bool(m.get("full_time_student", False)),
                   disability_group=m.get("disability_group"), carer=bool(m.get("carer", False)))
            for m in record["members"]
        ),
        incomes=tuple(
            Income(iin=i["iin"], type=i["type"], month=parse_month(i["month"]), amount=Decimal(i["amount"]))
            for i in record.get("incomes", ())
        ),
        expenses=None if expenses is None else Expenses(
            consent=bool(expenses["consent"]),
            home_or_car_purchase=bool(expenses.get("home_or_car_purchase", False)),
            non_mortgage_loans=Decimal(expenses.get("non_mortgage_loans", "0")),
            account_spending=Decimal(expenses.get("account_spending", "0")),
            deposits=Decimal(expenses.get("deposits", "0")),
        ),
        history=History(
            ban_until=_date_or_none(history.get("ban_until")),
            contract_terminated_on=_date_or_none(history.get("contract_terminated_on")),
            false_information=bool(history.get("false_information", False)),
        ),
    )


def family_of_record(record: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """(the members' IINs, the region) of a stored record of any format: who may read the decision."""
    return tuple(m["iin"] for m in record["members"]), record["region_kato"]


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _date_or_none(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)
