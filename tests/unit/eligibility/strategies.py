"""Hypothesis strategies: valid random families across 2024–2026, all regions, 1–9 members,
incomes around the poverty line, expenses near their thresholds, bans around the application date
(given as a date, or as a contract terminated about six months before)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from services.eligibility.domain import INCOME_TYPES, REGIONS, Case, Expenses, History, Income, Member, compose_iin
from services.eligibility.domain.parameters import ParameterSet
from services.eligibility.domain.rules import latest_birth_date_for_age, poverty_line
from shared.calendar import assessment_quarter

REGION_CODES = [code + "0000000" for code in REGIONS] + ["611010000", "151610000", "711110000"]
OTHER_RELATIONS = ["spouse", "child", "child", "child", "parent", "sibling", "grandparent", "grandchild", "other"]


def money(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Tenge with tiyn, low..high tenge."""
    return st.integers(low * 100, high * 100).map(lambda tiyn: Decimal(tiyn).scaleb(-2))


@st.composite
def members(draw, application_date: date, count: int) -> tuple[Member, ...]:
    result = []
    used: set[str] = set()
    for index in range(count):
        relation = "applicant" if index == 0 else draw(st.sampled_from(OTHER_RELATIONS))
        youngest = 16 if relation == "applicant" else 0
        age_days = draw(st.one_of(
            st.integers(youngest * 366, 90 * 365),
            st.integers(0, 8 * 366),  # plenty of children aged around 1–6
            st.integers(17 * 365, 24 * 366),  # around 18 and 23
            st.integers(60 * 365, 64 * 366),  # around retirement
        ))
        birth = application_date - timedelta(days=age_days)
        if draw(st.integers(0, 5)) == 0:  # a birthday exactly on the application date, give or take a day
            years = draw(st.sampled_from([1, 7, 18, 23, 61, 63] if relation != "applicant" else [18, 61, 63]))
            birth = latest_birth_date_for_age(application_date, years) + timedelta(days=draw(st.integers(-1, 1)))
        sex = draw(st.sampled_from(["male", "female"]))
        serial = draw(st.integers(0, 9999))
        iin = None
        while iin is None or iin in used:
            iin = compose_iin(birth, sex, serial)
            serial = (serial + 1) % 10000
        used.add(iin)
        result.append(Member(
            iin=iin, birth_date=birth, sex=sex, relation=relation,
            employed=draw(st.booleans()),
            full_time_student=draw(st.booleans()),
            disability_group=draw(st.sampled_from([None, None, None, 1, 2, 3])),
            carer=draw(st.sampled_from([False, False, True])),
        ))
    return tuple(result)


@st.composite
def cases(draw, min_members: int = 1, max_members: int = 9, params: ParameterSet | None = None) -> Case:
    """With `params`, some amounts land exactly on (or a tiyn off) the thresholds they imply."""
    application_date = draw(st.dates(date(2024, 1, 1), date(2026, 12, 31)))
    region = draw(st.sampled_from(REGION_CODES))
    family = draw(members(application_date, draw(st.integers(min_members, max_members))))
    n = len(family)
    first = assessment_quarter(application_date).first_day
    months = [date(first.year + (first.month + k - 1) // 12, (first.month + k - 1) % 12 + 1, 1) for k in range(-1, 5)]
    # about 30,000–45,000 per member per month puts the total near the poverty line
    per_month = draw(st.integers(0, 60_000 * n))
    incomes = draw(st.lists(
        st.builds(
            Income,
            iin=st.sampled_from([m.iin for m in family]),
            type=st.sampled_from(INCOME_TYPES + ("wage",) * 5),
            month=st.sampled_from(months[1:4] * 3 + months),
            amount=st.one_of(money(0, max(1, per_month // 2)), money(0, 200_000)),
        ),
        max_size=12,
    ))
    expenses = draw(st.one_of(st.none(), st.builds(
        Expenses,
        consent=st.sampled_from([True, True, True, False]),
        home_or_car_purchase=st.sampled_from([False, False, False, True]),
        non_mortgage_loans=st.one_of(st.just(Decimal(0)), money(0, 60_000 * 3 * n)),
        account_spending=st.one_of(st.just(Decimal(0)), money(0, 45_000 * 3 * n)),
        deposits=st.one_of(st.just(Decimal(0)), money(0, 1_000_000), st.sampled_from(
            [Decimal(v) for v in ("738400", "738400.01", "786400", "865000", "865000.01", "864999.99")])),
    )))
    if params is not None:
        line = poverty_line(params, region, application_date)
        nudge = st.sampled_from([Decimal("-0.01"), Decimal(0), Decimal("0.01")])
        if draw(st.booleans()):  # counted income exactly around the line
            total = line.amount * 3 * n + draw(nudge)
            if total > 0:
                incomes = [Income(family[0].iin, "wage", first, total)]
        if expenses is not None and draw(st.booleans()):
            deposit_limit = params.get("deposit_limit_mci", application_date).value * params.get("mci", application_date).value
            expenses = Expenses(
                consent=expenses.consent, home_or_car_purchase=expenses.home_or_car_purchase,
                non_mortgage_loans=line.subsistence_minimum * 3 * n + draw(nudge),
                account_spending=line.amount * 3 * n + draw(nudge),
                deposits=deposit_limit + draw(nudge),
            )
    ban = draw(st.one_of(st.none(), st.integers(-5, 5).map(lambda d: application_date + timedelta(days=d))))
    # six months (the shipped ban_months) before the application, give or take a few days
    terminated = draw(st.one_of(st.none(), st.none(), st.integers(178, 188).map(
        lambda d: application_date - timedelta(days=d))))
    history = History(ban_until=ban, contract_terminated_on=terminated,
                      false_information=draw(st.sampled_from([False] * 9 + [True])))
    return Case(
        region_kato=region,
        application_date=application_date,
        extension=draw(st.booleans()),
        members=family,
        incomes=tuple(incomes),
        expenses=expenses,
        history=history,
    )
