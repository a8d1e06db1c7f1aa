"""Properties every decision must have, on random valid families (shipped parameters)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.eligibility.domain import (
    Income,
    Member,
    ParameterSet,
    ParameterValue,
    compose_iin,
    decide,
    load_shipped_parameters,
    validate_case,
)
from shared.calendar import assessment_quarter

from .strategies import cases

VALUES = load_shipped_parameters()
PARAMS = ParameterSet(VALUES)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def benefit(decision) -> int:
    return sum(m.total for m in decision.monthly)


@SETTINGS
@given(cases(params=PARAMS))
def test_generated_cases_are_valid(case):
    assert validate_case(case) == []


@SETTINGS
@given(cases(), st.integers(1, 50_000_000), st.integers(0, 2))
def test_more_income_never_raises_the_benefit(case, tiyn, month_offset):
    first = assessment_quarter(case.application_date).first_day
    month = date(first.year, first.month + month_offset, 1)
    richer = replace(case, incomes=case.incomes + (Income(case.members[0].iin, "wage", month, Decimal(tiyn).scaleb(-2)),))
    assert benefit(decide(richer, PARAMS)) <= benefit(decide(case, PARAMS))


@SETTINGS
@given(cases(max_members=8), st.integers(1, 6), st.integers(0, 364), st.sampled_from(["male", "female"]))
def test_an_extra_child_aged_1_to_6_never_lowers_the_benefit(case, age, extra_days, sex):
    on = case.application_date
    birth = date(on.year - age, on.month, 1 if (on.month, on.day) == (2, 29) else on.day) - timedelta(days=extra_days)
    used = {m.iin for m in case.members}
    serial, iin = 0, None
    while iin is None or iin in used:
        iin = compose_iin(birth, sex, serial)
        serial += 1
    extra = Member(iin, birth, sex, "child")
    bigger = replace(case, members=case.members + (extra,))
    assert validate_case(bigger) == []
    assert benefit(decide(bigger, PARAMS)) >= benefit(decide(case, PARAMS))


@SETTINGS
@given(cases(), st.randoms(use_true_random=False))
def test_member_and_income_order_never_changes_the_decision(case, random):
    members, incomes = list(case.members), list(case.incomes)
    random.shuffle(members)
    random.shuffle(incomes)
    shuffled = replace(case, members=tuple(members), incomes=tuple(incomes))
    assert decide(shuffled, PARAMS).to_dict() == decide(case, PARAMS).to_dict()


@SETTINGS
@given(cases())
def test_a_decision_is_recomputed_exactly_as_of_its_time(case):
    decided_at = datetime(2026, 6, 1, tzinfo=UTC)
    original = decide(case, ParameterSet(VALUES, as_of=decided_at))
    corrections = [
        ParameterValue(v.name, v.region_kato, v.valid_from, v.valid_to,
                       v.value + 1000 if v.name in ("mci", "subsistence_minimum", "median_income") else v.value,
                       decided_at + timedelta(days=30))
        for v in VALUES
    ]
    later = ParameterSet(VALUES + corrections)
    recomputed = decide(case, ParameterSet(VALUES + corrections, as_of=decided_at))
    assert recomputed == original
    assert json.dumps(recomputed.to_dict()) == json.dumps(original.to_dict())
    assert decide(case, later).parameters != original.parameters  # new decisions see the corrections


@SETTINGS
@given(cases())
def test_decisions_are_json_ready_and_consistent(case):
    decision = decide(case, PARAMS)
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["eligible"] == bool(data["monthly"])
    assert data["members"] == len(case.members)
    assert ("INCOME_BELOW_POVERTY_LINE" in decision.reason_codes) != ("INCOME_NOT_BELOW_POVERTY_LINE" in decision.reason_codes)
    assert (decision.kind == "conditional") == ("CONDITIONAL_ABLE_BODIED" in decision.reason_codes)
    for month in decision.monthly:
        assert month.tsa >= 0 and month.total == month.tsa + month.child_supplement
    assert len(case.incomes) >= len(decision.ignored_incomes)
