"""The ages, the large-family rates and the ban's length are parameters the rules read: a new
value changes the decision (in the single and the bulk path alike), and the decision lists the
values it used."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.eligibility.domain import History, MissingParameter, ParameterSet, decide
from services.eligibility.reassessment import cases_to_columns, decide_columns

from .support import applicant, child, family, person, spouse, value, world, world_values
from .test_bulk import assert_same

LATER = datetime(2026, 5, 1, tzinfo=UTC)


def used(decision) -> set[str]:
    return {p.name for p in decision.parameters}


def amounts(decision) -> list[tuple[int, int]]:
    return [(m.tsa, m.child_supplement) for m in decision.monthly]


FOUR_CHILDREN = family(applicant(), spouse(), *(child(f"{y}-01-15") for y in (2018, 2016, 2014, 2012)))


def test_every_decision_lists_the_ages_it_used():
    decision = decide(family(applicant()), world())
    assert {"adult_age", "retirement_age_male", "retirement_age_female", "child_supplement_min_age",
            "child_supplement_max_age", "student_child_age_limit"} <= used(decision)
    assert not any(name.startswith("large_family_allowance") for name in used(decision))


def test_the_large_family_rate_is_read_for_the_number_of_children():
    decision = decide(FOUR_CHILDREN, world())
    assert "large_family_allowance_mci_4_children" in used(decision)
    assert [a.amount for a in decision.large_family_allowance] == [64120, 64120]  # 16.03 × 4,000
    raised = world([value("large_family_allowance_mci_4_children", "17", "2026-01-01", recorded_at=LATER)])
    assert [a.amount for a in decide(FOUR_CHILDREN, raised).large_family_allowance] == [68000, 68000]
    assert_same([FOUR_CHILDREN], raised)


def test_eight_children_read_the_rate_per_child():
    eight = family(applicant(), *(child(f"{y}-01-15") for y in (2024, 2022, 2019, 2017, 2016, 2014, 2012, 2010)))
    raised = world([value("large_family_allowance_mci_per_child_8_or_more", "5", "2026-01-01", recorded_at=LATER)])
    decision = decide(eight, raised)
    assert [a.amount for a in decision.large_family_allowance] == [160000, 160000]  # 8 × 5 × 4,000
    assert "large_family_allowance_mci_per_child_8_or_more" in used(decision)
    assert_same([eight], raised)


@pytest.mark.parametrize(("name", "new", "case", "before", "after"), [
    # a 19-year-old applicant is able-bodied at 18, not at 21
    ("adult_age", 21, family(applicant("2007-01-01", "male")), "conditional", "unconditional"),
    # a 7-year-old (on both first days) gets a supplement once the age limit is 7
    ("child_supplement_max_age", 7, family(applicant(), child("2019-01-10")), [(77000, 0)] * 2,
     [(77000, 6000)] * 2),
    # a 1-year-old no longer gets it from 2
    ("child_supplement_min_age", 2, family(applicant(), child("2025-01-10")), [(77000, 6000)] * 2,
     [(77000, 0)] * 2),
])
def test_an_age_parameter_moves_the_rule(name, new, case, before, after):
    changed = world([value(name, new, "2026-01-01", recorded_at=LATER)])
    outcome = (lambda d: d.kind) if name == "adult_age" else amounts
    assert outcome(decide(case, world())) == before
    assert outcome(decide(case, changed)) == after
    assert_same([case], world())
    assert_same([case], changed)


def test_the_student_age_limit_decides_who_is_a_large_family_child():
    # three minors and a 22-year-old student: four children under 23, three under 22
    case = family(applicant("1975-01-01"), child("2004-01-10", full_time_student=True),
                  *(child(f"{y}-01-15") for y in (2016, 2014, 2012)))
    assert [a.amount for a in decide(case, world()).large_family_allowance] == [64120, 64120]
    lowered = world([value("student_child_age_limit", 22, "2026-01-01", recorded_at=LATER)])
    assert decide(case, lowered).large_family_allowance == ()
    assert_same([case], lowered)


def test_a_missing_age_refuses_the_decision_in_both_paths():
    params = ParameterSet([v for v in world_values() if v.name != "child_supplement_max_age"])
    case = family(applicant())
    with pytest.raises(MissingParameter) as single:
        decide(case, params)
    with pytest.raises(MissingParameter) as bulk:
        decide_columns(cases_to_columns([case]), params)
    assert single.value.name == bulk.value.name == "child_supplement_max_age"


def test_a_missing_rate_refuses_only_families_that_need_it():
    params = ParameterSet([v for v in world_values() if v.name != "large_family_allowance_mci_5_children"])
    assert_same([FOUR_CHILDREN, family(applicant())], params)
    five = family(applicant(), *(child(f"{y}-01-15") for y in (2018, 2016, 2014, 2012, 2010)))
    with pytest.raises(MissingParameter) as single:
        decide(five, params)
    with pytest.raises(MissingParameter) as bulk:
        decide_columns(cases_to_columns([FOUR_CHILDREN, five]), params)
    assert single.value.name == bulk.value.name == "large_family_allowance_mci_5_children"


# ------------------------------------------------------------------------------------------- ban

def test_the_ban_lasts_ban_months_valid_on_the_termination_day():
    # ban_months becomes 3 from 2026-03-01: a contract terminated before keeps its 6 months (read on
    # the application day instead, `before` would be free and `expired` still barred)
    shorter = world([value("ban_months", 6, "2023-01-01", "2026-02-28", recorded_at=LATER),
                     value("ban_months", 3, "2026-03-01", recorded_at=LATER)])
    before = family(applicant(), history=History(contract_terminated_on=date(2025, 12, 1)))  # to 2026-06-01
    after = family(applicant(), history=History(contract_terminated_on=date(2026, 3, 1)))  # to 2026-06-01
    early = family(applicant(), history=History(contract_terminated_on=date(2026, 2, 14)))  # to 2026-08-14
    three_months = family(applicant(), history=History(contract_terminated_on=date(2026, 4, 1)))  # to 2026-07-01
    expired = family(applicant(), history=History(contract_terminated_on=date(2026, 3, 1)), on="2026-06-02")
    for case, banned in ((before, True), (after, True), (early, True), (three_months, True), (expired, False)):
        decision = decide(case, shorter)
        assert ("BAN_ACTIVE" in decision.reason_codes) is banned, case.history
        months = next(p for p in decision.parameters if p.name == "ban_months")
        assert months.valid_from <= case.history.contract_terminated_on
    assert_same([before, after, early, three_months, expired], shorter)
    reason = next(r for r in decide(before, shorter).reasons if r.code == "BAN_ACTIVE")
    assert dict(reason.params) == {"ban_until": date(2026, 6, 1), "application_date": date(2026, 5, 15),
                                   "contract_terminated_on": date(2025, 12, 1), "ban_months": 6}


def test_an_explicit_ban_until_still_applies_and_the_later_end_wins():
    explicit = family(applicant(), history=History(ban_until=date(2026, 6, 30)))
    decision = decide(explicit, world())
    assert not decision.eligible and "ban_months" not in used(decision)
    assert dict(next(r for r in decision.reasons if r.code == "BAN_ACTIVE").params) == {
        "ban_until": date(2026, 6, 30), "application_date": date(2026, 5, 15)}
    both = family(applicant(), history=History(ban_until=date(2026, 5, 1), contract_terminated_on=date(2025, 12, 1)))
    reason = next(r for r in decide(both, world()).reasons if r.code == "BAN_ACTIVE")
    assert reason.params["ban_until"] == date(2026, 6, 1)
    assert_same([explicit, both], world())


def test_a_termination_needs_ban_months_for_its_day():
    params = ParameterSet([v for v in world_values() if v.name != "ban_months"])
    terminated = family(applicant(), history=History(contract_terminated_on=date(2025, 12, 1)))
    assert_same([family(applicant())], params)  # not read without a termination
    with pytest.raises(MissingParameter) as single:
        decide(terminated, params)
    with pytest.raises(MissingParameter) as bulk:
        decide_columns(cases_to_columns([family(applicant()), terminated]), params)
    assert (single.value.name, single.value.on) == (bulk.value.name, bulk.value.on) == ("ban_months", date(2025, 12, 1))


# ----------------------------------------------------------------------------------- able-bodied

def test_the_decision_names_its_able_bodied_members():
    mother, father = applicant(), spouse(employed=True)
    student, grandmother = person("2004-02-02", "child", full_time_student=True), person("1950-03-03", "grandparent")
    decision = decide(family(mother, father, student, grandmother, child("2020-01-01")), world())
    assert decision.able_bodied_iins == (mother.iin, father.iin)
    assert decision.kind == "conditional"
    assert decide(family(person("1950-03-03", "applicant")), world()).able_bodied_iins == ()
