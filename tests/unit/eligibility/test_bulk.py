"""The columnar path must give exactly what `decide` gives, family by family."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.eligibility.domain import (
    INCOME_TYPES,
    RELATIONS,
    Case,
    Expenses,
    History,
    Income,
    Member,
    MissingParameter,
    ParameterSet,
    ParameterValue,
    compose_iin,
    decide,
    load_shipped_parameters,
    validate_case,
)
from bench.synthetic import synthetic_population
from services.eligibility.reassessment import (
    EPOCH,
    NO_DAY,
    FamilyColumns,
    cases_to_columns,
    decide_columns,
    month_first_day,
    reason_codes_of,
)

from .strategies import cases
from .support import applicant, child, family, world, world_values

PARAMS = ParameterSet(load_shipped_parameters())


def assert_same(case_list: list[Case], params: ParameterSet, workers: int = 2) -> None:
    result = decide_columns(cases_to_columns(case_list), params, workers=workers)
    for i, case in enumerate(case_list):
        d = decide(case, params)
        where = f"family {i}: {case}"
        assert bool(result.eligible[i]) == d.eligible, where
        assert ("conditional" if result.kind[i] else "unconditional") == d.kind, where
        assert int(result.poverty_line[i]) == d.poverty_line, where
        assert Decimal(int(result.per_capita_income[i])).scaleb(-2) == d.per_capita_income, where
        months = tuple(month_first_day(int(result.first_month[i]) + j).strftime("%Y-%m") for j in range(int(result.months[i])))
        assert months == d.period_months, where
        assert [(int(result.tsa[j, i]), int(result.child_supplement[j, i])) for j in range(len(months))] == (
            [(m.tsa, m.child_supplement) for m in d.monthly] or [(0, 0)] * len(months)), where
        allowance = {a.month: a.amount for a in d.large_family_allowance}
        assert [int(result.large_family_allowance[j, i]) for j in range(len(months))] == [
            allowance.get(m, 0) for m in months], where
        assert set(reason_codes_of(int(result.reasons[i]))) == set(d.reason_codes), where
        assert not result.tsa[len(months):, i].any() and not result.child_supplement[len(months):, i].any()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(cases(params=PARAMS), min_size=1, max_size=12), st.integers(1, 3))
def test_bulk_equals_single_on_random_families(case_list, workers):
    assert_same(case_list, PARAMS, workers)


def test_bulk_equals_single_on_the_hand_computed_world():
    from .test_spec_table import ROWS
    assert_same([row.case for row in ROWS], world())


def test_families_given_out_of_order_are_regrouped():
    case_list = [family(applicant(), child("2022-01-01")), family(applicant("1970-01-01"), child("2010-01-01"))]
    columns = cases_to_columns(case_list)
    order = np.array([2, 0, 3, 1])
    shuffled = replace(columns, **{name: getattr(columns, name)[order] for name in (
        "member_family", "birth_day", "sex", "relation", "employed", "full_time_student", "disability_group", "carer")})
    a, b = decide_columns(columns, PARAMS), decide_columns(shuffled, PARAMS)
    assert (a.tsa == b.tsa).all() and (a.child_supplement == b.child_supplement).all()


def test_a_missing_value_is_refused_in_bulk_as_in_single():
    # the 2026 MCI recorded only up to May: a June child supplement cannot be computed
    values = [v for v in world_values() if not (v.name == "mci" and v.valid_from.year == 2026)]
    values.append(ParameterValue("mci", None, date(2026, 1, 1), date(2026, 5, 31), Decimal(4000),
                                 datetime(2020, 1, 1, tzinfo=UTC)))
    params = ParameterSet(values)
    needs_june = family(applicant(), child("2022-01-01"))
    does_not = family(applicant())
    assert_same([does_not], params)
    with pytest.raises(MissingParameter) as single:
        decide(needs_june, params)
    with pytest.raises(MissingParameter) as bulk:
        decide_columns(cases_to_columns([does_not, needs_june]), params)
    assert (single.value.name, single.value.on) == (bulk.value.name, bulk.value.on) == ("mci", date(2026, 6, 1))


def test_an_empty_batch():
    result = decide_columns(cases_to_columns([]), PARAMS)
    assert len(result) == 0


# --------------------------------------------------------------------------- synthetic population

def columns_to_cases(columns: FamilyColumns, families: range) -> list[Case]:
    """Back from columns to cases (with made-up valid IINs), to check bulk against decide."""
    cases = []
    m_starts = np.searchsorted(columns.member_family, [families.start, families.stop])
    i_starts = np.searchsorted(columns.income_family, [families.start, families.stop])
    members_of: dict[int, list[Member]] = {}
    for k in range(m_starts[0], m_starts[1]):
        birth = EPOCH + timedelta(days=int(columns.birth_day[k]))
        sex = ("male", "female")[columns.sex[k]]
        serial, iin = k % 9000, None
        while iin is None:
            iin = compose_iin(birth, sex, serial)
            serial += 1
        group = int(columns.disability_group[k])
        members_of.setdefault(int(columns.member_family[k]), []).append(Member(
            iin, birth, sex, RELATIONS[columns.relation[k]], bool(columns.employed[k]),
            bool(columns.full_time_student[k]), group or None, bool(columns.carer[k])))
    incomes_of: dict[int, list[Income]] = {}
    for k in range(i_starts[0], i_starts[1]):
        f = int(columns.income_family[k])
        month = month_first_day(int(columns.income_month[k]))
        incomes_of.setdefault(f, []).append(Income(members_of[f][0].iin, INCOME_TYPES[columns.income_type[k]], month,
                                                   Decimal(int(columns.income_amount[k])).scaleb(-2)))
    for f in families:
        ban = int(columns.ban_until_day[f])
        terminated = int(columns.contract_terminated_day[f])
        cases.append(Case(
            region_kato=columns.regions[columns.region[f]],
            application_date=EPOCH + timedelta(days=int(columns.application_day[f])),
            extension=bool(columns.extension[f]),
            members=tuple(members_of[f]),
            incomes=tuple(incomes_of.get(f, ())),
            expenses=Expenses(bool(columns.consent[f]), bool(columns.home_or_car_purchase[f]),
                              Decimal(int(columns.non_mortgage_loans[f])).scaleb(-2),
                              Decimal(int(columns.account_spending[f])).scaleb(-2),
                              Decimal(int(columns.deposits[f])).scaleb(-2)) if columns.has_expenses[f] else None,
            history=History(ban_until=None if ban == NO_DAY else EPOCH + timedelta(days=ban),
                            contract_terminated_on=None if terminated == NO_DAY else EPOCH + timedelta(days=terminated),
                            false_information=bool(columns.false_information[f])),
        ))
    return cases


def test_the_synthetic_population_decides_like_single_cases():
    columns = synthetic_population(3000, PARAMS, seed=7)
    sample = columns_to_cases(columns, range(0, 3000, 7))
    assert all(validate_case(case) == [] for case in sample)
    whole = decide_columns(columns, PARAMS)
    picked = decide_columns(cases_to_columns(sample), PARAMS)
    index = np.arange(0, 3000, 7)
    for name in ("eligible", "kind", "poverty_line", "per_capita_income", "reasons"):
        assert (getattr(whole, name)[index] == getattr(picked, name)).all(), name
    for name in ("tsa", "child_supplement", "large_family_allowance"):
        assert (getattr(whole, name)[:, index] == getattr(picked, name)).all(), name
    assert_same(sample[:150], PARAMS)


def test_the_synthetic_population_looks_like_seed_003():
    columns = synthetic_population(50_000, PARAMS, seed=1)
    sizes = np.bincount(columns.member_family)
    assert 5.0 < sizes.mean() < 5.6
    assert 0.6 < np.mean(columns.relation == RELATIONS.index("child")) < 0.72
    turkestan = columns.regions.index("610000000")
    assert 0.19 < np.mean(columns.region == turkestan) < 0.215
    result = decide_columns(columns, PARAMS)
    assert 0.3 < result.eligible.mean() < 0.8


def test_an_extension_needs_the_disregarded_list_a_first_application_does_not():
    params = ParameterSet([v for v in world_values() if v.name != "disregarded_on_extension_income_types"])
    first, extension = family(applicant()), family(applicant(), extension=True)
    assert_same([first], params)
    for run in (lambda: decide(extension, params), lambda: decide_columns(cases_to_columns([first, extension]), params)):
        with pytest.raises(MissingParameter) as raised:
            run()
        assert raised.value.name == "disregarded_on_extension_income_types"
