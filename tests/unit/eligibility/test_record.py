"""The stored input of a decision: the domain's own record, readable in every format ever written."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings

from services.eligibility.domain import (
    RECORD_FORMAT,
    Case,
    Expenses,
    History,
    Income,
    Member,
    case_from_record,
    case_to_record,
    decide,
    family_of_record,
)

from .strategies import cases
from .support import world


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_a_case_survives_its_record(case):
    record = json.loads(json.dumps(case_to_record(case)))  # as JSONB gives it back
    assert record["format"] == RECORD_FORMAT == 2
    assert case_from_record(record) == case


# A decision input exactly as the code before format 2 stored it: `EstimateIn.model_dump(mode="json")`
# of the request built from verified evidence (names and income sources included, no "format").
FORMAT_1 = {
    "region_kato": "610000000",
    "application_date": "2026-11-22",
    "extension": False,
    "members": [
        {"iin": "500303401155", "birth_date": "1950-03-03", "sex": "female", "relation": "applicant",
         "employed": False, "full_time_student": False, "disability_group": None, "carer": False,
         "full_name": "Test Applicant", "phone": None},
        {"iin": "200505502185", "birth_date": "2020-05-05", "sex": "male", "relation": "grandchild",
         "employed": False, "full_time_student": False, "disability_group": 3, "carer": False,
         "full_name": "Test Grandchild", "phone": None},
    ],
    "incomes": [
        {"iin": "500303401155", "type": "pension", "month": m, "amount": "20000.00", "source": "income_registry"}
        for m in ("2026-07", "2026-08", "2026-09")
    ],
    "expenses": None,
    "history": {"ban_until": None, "false_information": False},
}


def test_the_previous_format_is_read():
    case = case_from_record(FORMAT_1)
    assert case == Case(
        region_kato="610000000", application_date=date(2026, 11, 22), extension=False,
        members=(Member("500303401155", date(1950, 3, 3), "female", "applicant"),
                 Member("200505502185", date(2020, 5, 5), "male", "grandchild", disability_group=3)),
        incomes=tuple(Income("500303401155", "pension", date(2026, m, 1), Decimal("20000.00")) for m in (7, 8, 9)),
        expenses=None,
        history=History(),
    )
    # rewritten in the current format it decides the same
    again = case_from_record(json.loads(json.dumps(case_to_record(case))))
    assert decide(again, world()).to_dict() == decide(case, world()).to_dict()


def test_the_current_format_keeps_only_what_the_rules_read():
    record = case_to_record(case_from_record(FORMAT_1))
    assert all(set(m) == {"iin", "birth_date", "sex", "relation", "employed", "full_time_student",
                          "disability_group", "carer"} for m in record["members"])
    assert all("source" not in i for i in record["incomes"])
    assert record["history"] == {"ban_until": None, "contract_terminated_on": None, "false_information": False}


def test_the_previous_format_with_bank_data_and_a_ban():
    record = FORMAT_1 | {
        "expenses": {"consent": True, "home_or_car_purchase": False, "non_mortgage_loans": "0",
                     "account_spending": "150000.50", "deposits": "0"},
        "history": {"ban_until": "2026-12-01", "false_information": True}}
    case = case_from_record(record)
    assert case.expenses == Expenses(True, False, Decimal(0), Decimal("150000.50"), Decimal(0))
    assert case.history == History(ban_until=date(2026, 12, 1), false_information=True)


def test_a_format_from_the_future_is_refused():
    with pytest.raises(ValueError, match="format 3"):
        case_from_record(FORMAT_1 | {"format": 3})


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_family_of_a_record_is_who_may_read_its_decision(case):
    assert family_of_record(case_to_record(case)) == (tuple(m.iin for m in case.members), case.region_kato)


def test_the_family_of_a_format_1_record():
    assert family_of_record(FORMAT_1) == (tuple(m["iin"] for m in FORMAT_1["members"]), "610000000")
