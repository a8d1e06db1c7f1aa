"""The applicant is an adult by the policy parameter `adult_age`, as eligibility records it:
intake keeps a replica of its values and applies the one valid on the application date."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from services.intake import domain
from tests.support import person

from .support import ADULT_AGE_18, form, member, submit

# The application date is 1 April 2026 in Almaty (support.AT).
LATER = datetime(2026, 2, 1, tzinfo=timezone.utc)


def _value(value: str, *, region: str | None = None, valid_from: date = date(2024, 1, 1),
           valid_to: date | None = None, recorded_at: datetime = LATER) -> domain.ParameterValue:
    return domain.ParameterValue("adult_age", region, valid_from, valid_to, value, recorded_at)


def _family_of_applicant_born(birth: date) -> domain.ApplicationForm:
    return form([member(person(birth, "female", "applicant")), member(person(date(2025, 6, 1), "male", "child"))])


@pytest.mark.parametrize("birth, accepted", [
    (date(2008, 4, 1), True),   # 18 on the application date
    (date(2008, 4, 2), False),  # 18 the day after
    (date(2023, 1, 1), False),  # a three-year-old "applicant"
])
def test_an_applicant_younger_than_adult_age_on_the_application_date_is_refused(birth, accepted):
    f = _family_of_applicant_born(birth)
    if accepted:
        assert submit(f)[0].members == f.members
        return
    with pytest.raises(domain.InvalidApplication) as refused:
        submit(f)
    assert refused.value.problems == [
        ("members[0].birth_date", "the applicant must be at least 18 years old on the application date")]


def test_only_the_applicant_must_be_an_adult():
    submit(form())  # a five-year-old child in the family


@pytest.mark.parametrize("values, region, expected", [
    (ADULT_AGE_18, "610000000", 18),
    # A value recorded later for the same days supersedes the earlier one.
    (ADULT_AGE_18 + (_value("17"),), "610000000", 17),
    # A regional value wins over the national one, only in its region.
    (ADULT_AGE_18 + (_value("16", region="610000000"),), "610000000", 16),
    (ADULT_AGE_18 + (_value("16", region="610000000"),), "750000000", 18),
    # A value not yet valid on the application date does not apply, nor one that has ended.
    (ADULT_AGE_18 + (_value("21", valid_from=date(2026, 4, 2)),), "610000000", 18),
    ((_value("18", valid_to=date(2026, 3, 31)), _value("19", valid_from=date(2026, 4, 1))), "610000000", 19),
])
def test_the_value_applied_is_the_one_valid_on_the_application_date(values, region, expected):
    assert domain.adult_age(values, region, date(2026, 4, 1)) == expected


def test_a_day_with_no_value_is_refused_not_guessed():
    with pytest.raises(domain.MissingParameter) as missing:
        submit(form(), parameters=(_value("18", valid_from=date(2026, 4, 2)),))
    assert (missing.value.name, missing.value.on) == ("adult_age", date(2026, 4, 1))
    with pytest.raises(domain.MissingParameter):
        submit(form(), parameters=())


def test_form_errors_are_reported_before_a_missing_parameter():
    with pytest.raises(domain.InvalidApplication):
        submit(replace(form(), region_kato="990000000"), parameters=())


@pytest.mark.parametrize("value, problem", [
    ("18", None), ("21.0", None), ("0", None), ("100", None),
    ("18.5", "whole number"), ("101", "whole number"), ("-1", "whole number"), ("eighteen", "whole number"),
    (True, "whole number"), (("18",), "whole number"),
])
def test_a_replicated_value_intake_cannot_apply_is_named(value, problem):
    found = domain.replica_value_problem("adult_age", value)
    assert (found is None) if problem is None else (problem in found)
    assert domain.replica_value_problem("mci", "3932") is not None
