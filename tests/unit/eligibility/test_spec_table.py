"""The TSA rules as a table of families and what each must get, computed by hand.

World: `support.py` (round-number parameters). Unless a row says otherwise the family lives in
Astana (national figures) and applies on 2026-05-15, so: quarter 2026-Q2, assessment quarter
2026-Q1, months paid 2026-05 and 2026-06, poverty line max(0.35 × 110,000; 0.70 × 50,000) = 38,500
(median), MCI 4,000 → child supplement 1.5 × 4,000 = 6,000, deposit limit 200 × 4,000 = 800,000,
E2 limit 50,000 per member per month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from services.eligibility.domain import Case, History, decide, validate_case
from services.eligibility.reassessment import cases_to_columns, decide_columns, month_first_day, reason_codes_of

from .support import (
    AKTOBE,
    PAVLODAR,
    Q1_2026,
    TURKESTAN,
    applicant,
    child,
    expenses,
    family,
    monthly,
    person,
    spouse,
    world,
)

BELOW, NOT_BELOW = "INCOME_BELOW_POVERTY_LINE", "INCOME_NOT_BELOW_POVERTY_LINE"
MEDIAN, SUBSISTENCE = "POVERTY_LINE_FROM_MEDIAN", "POVERTY_LINE_FROM_SUBSISTENCE"
CONDITIONAL, UNCONDITIONAL = "CONDITIONAL_ABLE_BODIED", "UNCONDITIONAL_NO_ABLE_BODIED"
SUPPLEMENT, LARGE_FAMILY = "CHILD_SUPPLEMENT", "LARGE_FAMILY_ALLOWANCE"
MAY_JUNE = ("2026-05", "2026-06")


@dataclass(frozen=True)
class Row:
    name: str
    case: Case
    eligible: bool
    kind: str
    poverty_line: int
    per_capita_income: str
    paid: list[tuple[str, int, int]]  # (month, tsa, child supplement); [] when not eligible
    reasons: set[str]
    large_family: list[tuple[str, int]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # reasons of the ignored incomes, sorted
    months: tuple[str, ...] = MAY_JUNE
    assessment_quarter: str = "2026-Q1"


def each(months, tsa, supplement=0):
    return [(m, tsa, supplement) for m in months]


A, S = applicant(), spouse()  # 1985-04-10 woman, 1983-09-02 man: both able-bodied
TODDLER = child("2022-08-10")  # 3 on both first days: supplement
PUPIL = child("2016-03-03")  # 10: no supplement

ROWS = [
    # ---------------------------------------------------------------- income and the poverty line
    Row("single adult without income gets the whole poverty line",
        family(A), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, CONDITIONAL}),
    # 3 × 90,000 = 270,000 / 4 / 3 = 22,500.00; (38,500 − 22,500) × 4 = 64,000; toddler 6,000
    Row("couple with two children, one of them aged 1 to 6",
        family(A, S, TODDLER, PUPIL, incomes=monthly(S, "wage", Q1_2026, 90000)),
        True, "conditional", 38500, "22500.00", each(MAY_JUNE, 64000, 6000),
        {BELOW, MEDIAN, CONDITIONAL, SUPPLEMENT}),
    # 3 × 77,000 = 231,000 / 2 / 3 = 38,500.00 — equal is not below
    Row("per-capita income exactly at the poverty line is not below it",
        family(A, S, incomes=monthly(S, "wage", Q1_2026, 77000)),
        False, "conditional", 38500, "38500.00", [], {NOT_BELOW, MEDIAN, CONDITIONAL}),
    # 77,000 + 77,000 + 76,997 = 230,997 / 6 = 38,499.50; 0.50 × 2 = 1
    Row("half a tenge below the line is eligible for 1 tenge",
        family(A, S, incomes=monthly(S, "wage", Q1_2026[:2], 77000) + monthly(S, "wage", Q1_2026[2:], 76997)),
        True, "conditional", 38500, "38499.50", each(MAY_JUNE, 1), {BELOW, MEDIAN, CONDITIONAL}),
    # 3 × 114,001.50 = 342,004.50 / 3 / 3 = 38,000.50; 499.50 × 3 = 1,498.50 → 1,499
    Row("monthly TSA is rounded half-up to whole tenge",
        family(A, S, PUPIL, incomes=monthly(S, "wage", Q1_2026, "114001.50")),
        True, "conditional", 38500, "38000.50", each(MAY_JUNE, 1499), {BELOW, MEDIAN, CONDITIONAL}),
    # 3 × 30,000.01 = 90,000.03 / 6 = 15,000.005 → 15,000.01; 23,499.99 × 2 = 46,999.98 → 47,000
    Row("per-capita income is rounded half-up to the tiyn",
        family(A, S, incomes=monthly(S, "wage", Q1_2026, "30000.01")),
        True, "conditional", 38500, "15000.01", each(MAY_JUNE, 47000), {BELOW, MEDIAN, CONDITIONAL}),

    # ------------------------------------------------------------------------- child supplement
    # born 2025-05-20: 0 on 1 May, 1 on 1 June
    Row("child turning 1 inside the period gets the supplement from the next month",
        family(A, child("2025-05-20")), True, "conditional", 38500, "0.00",
        [("2026-05", 77000, 0), ("2026-06", 77000, 6000)], {BELOW, MEDIAN, CONDITIONAL, SUPPLEMENT}),
    # born 2019-05-20: 6 on 1 May, 7 on 1 June
    Row("child turning 7 inside the period loses the supplement the next month",
        family(A, child("2019-05-20")), True, "conditional", 38500, "0.00",
        [("2026-05", 77000, 6000), ("2026-06", 77000, 0)], {BELOW, MEDIAN, CONDITIONAL, SUPPLEMENT}),
    Row("child born on the first of a month is a year older on that day",
        family(A, child("2025-06-01")), True, "conditional", 38500, "0.00",
        [("2026-05", 77000, 0), ("2026-06", 77000, 6000)], {BELOW, MEDIAN, CONDITIONAL, SUPPLEMENT}),

    # ------------------------------------------------------------------------------ able-bodied
    Row("man reaching 63 on the application day is not able-bodied",
        family(applicant("1963-05-15", "male")), True, "unconditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, UNCONDITIONAL}),
    Row("man one day short of 63 is able-bodied",
        family(applicant("1963-05-16", "male")), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, CONDITIONAL}),
    Row("woman reaching 61 on the application day is not able-bodied",
        family(applicant("1965-05-15", "female")), True, "unconditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, UNCONDITIONAL}),
    Row("disability group 1 is not able-bodied",
        family(applicant(disability_group=1)), True, "unconditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, UNCONDITIONAL}),
    Row("disability group 2 is not able-bodied",
        family(applicant(disability_group=2)), True, "unconditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, UNCONDITIONAL}),
    Row("disability group 3 is still able-bodied",
        family(applicant(disability_group=3)), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, CONDITIONAL}),
    Row("full-time student is not able-bodied",
        family(applicant("2005-01-01", full_time_student=True)), True, "unconditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, UNCONDITIONAL}),
    Row("carer of a 2-year-old is not able-bodied; the child gets the supplement",
        family(applicant("1990-02-02", carer=True), child("2024-01-10")), True, "unconditional", 38500, "0.00",
        each(MAY_JUNE, 77000, 6000), {BELOW, MEDIAN, UNCONDITIONAL, SUPPLEMENT}),
    Row("turning 18 on the application day makes the applicant able-bodied",
        family(applicant("2008-05-15", "male")), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, CONDITIONAL}),
    Row("a 17-year-old applicant is not able-bodied",
        family(applicant("2008-05-16", "male")), True, "unconditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, UNCONDITIONAL}),

    # ------------------------------------------------------------------ expenses (n = 2, no income)
    Row("deposits of exactly 200 MCI are allowed",
        family(A, S, expenses=expenses(deposits="800000")), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 77000), {BELOW, MEDIAN, CONDITIONAL}),
    Row("deposits one tenge over 200 MCI refuse the application",
        family(A, S, expenses=expenses(deposits="800001")), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "EXPENSE_DEPOSITS"}),
    # 300,000 / 3 / 2 = 50,000 = the subsistence minimum: not greater
    Row("loans of exactly one subsistence minimum per member per month are allowed",
        family(A, S, expenses=expenses(loans="300000")), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 77000), {BELOW, MEDIAN, CONDITIONAL}),
    Row("loans one tiyn over the subsistence minimum refuse the application",
        family(A, S, expenses=expenses(loans="300000.01")), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "EXPENSE_LOANS"}),
    # 231,000 / 3 / 2 = 38,500 = the poverty line: not greater
    Row("spending of exactly the poverty line per member per month is allowed",
        family(A, S, expenses=expenses(spending="231000")), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 77000), {BELOW, MEDIAN, CONDITIONAL}),
    Row("spending one tiyn over the poverty line refuses the application",
        family(A, S, expenses=expenses(spending="231000.01")), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "EXPENSE_SPENDING"}),
    Row("buying a home or a car refuses the application",
        family(A, S, expenses=expenses(purchase=True)), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "EXPENSE_PURCHASE"}),
    Row("without every adult's consent the application is refused, bank data unread",
        family(A, S, expenses=expenses(consent=False, deposits="5000000")), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "CONSENT_NOT_GIVEN"}),

    # -------------------------------------------------------------------------------------- dates
    Row("application on the first day of a quarter is paid for three months",
        family(A, on="2026-04-01"), True, "conditional", 38500, "0.00",
        each(("2026-04", "2026-05", "2026-06"), 38500), {BELOW, MEDIAN, CONDITIONAL},
        months=("2026-04", "2026-05", "2026-06")),
    Row("application on the last day of a quarter is paid for one month",
        family(A, on="2026-06-30"), True, "conditional", 38500, "0.00",
        each(("2026-06",), 38500), {BELOW, MEDIAN, CONDITIONAL}, months=("2026-06",)),
    # statistics of 2025-Q4: max(0.35 × 100,000; 0.70 × 45,000) = 35,000; 90,000 / 2 / 3 = 15,000;
    # (35,000 − 15,000) × 2 = 40,000; the child (born 2023-01-20) is 2 or 3: 1.5 × 4,000 (2026 MCI)
    Row("January application is assessed on the fourth quarter of the year before",
        family(A, child("2023-01-20"), on="2026-01-10",
               incomes=monthly(A, "wage", ("2025-10", "2025-11", "2025-12"), 30000)),
        True, "conditional", 35000, "15000.00", each(("2026-01", "2026-02", "2026-03"), 40000, 6000),
        {BELOW, MEDIAN, CONDITIONAL, SUPPLEMENT}, months=("2026-01", "2026-02", "2026-03"),
        assessment_quarter="2025-Q4"),
    # statistics of 2023-Q4: 0.70 × 40,000 = 28,000 (no median term in 2024); 1.5 × 3,200 = 4,800
    Row("application on 29 February 2024 uses 2023-Q4 statistics and 2024 rules",
        family(A, child("2021-06-15"), on="2024-02-29"), True, "conditional", 28000, "0.00",
        each(("2024-02", "2024-03"), 56000, 4800), {BELOW, SUBSISTENCE, CONDITIONAL, SUPPLEMENT},
        months=("2024-02", "2024-03"), assessment_quarter="2023-Q4"),
    # 2025-02-10: statistics of 2024-Q4, max(0.35 × 80,000 = 28,000; 0.70 × 42,000 = 29,400);
    # the child born 2024-02-29 is 0 on 1 February and 1 on 1 March 2025; 1.5 × 3,601 = 5,401.5 → 5,402
    Row("child born on 29 February turns 1 on 1 March of a common year",
        family(A, child("2024-02-29"), on="2025-02-10"), True, "conditional", 29400, "0.00",
        [("2025-02", 58800, 0), ("2025-03", 58800, 5402)], {BELOW, SUBSISTENCE, CONDITIONAL, SUPPLEMENT},
        months=("2025-02", "2025-03"), assessment_quarter="2024-Q4"),
    Row("2024 rules: the poverty line is the subsistence term alone",
        family(A, on="2024-05-15"), True, "conditional", 29400, "0.00",
        each(("2024-05", "2024-06"), 29400), {BELOW, SUBSISTENCE, CONDITIONAL},
        months=("2024-05", "2024-06"), assessment_quarter="2024-Q1"),
    Row("2025 rules: the median term can win",
        family(A, on="2025-05-15"), True, "conditional", 35000, "0.00",
        each(("2025-05", "2025-06"), 35000), {BELOW, MEDIAN, CONDITIONAL},
        months=("2025-05", "2025-06"), assessment_quarter="2025-Q1"),

    # ------------------------------------------------------------------------------------ regions
    # Turkestan 2026-Q1: max(0.35 × 80,000 = 28,000; 0.70 × 48,000 = 33,600)
    Row("a regional subsistence minimum overrides the national one",
        family(A, region=TURKESTAN), True, "conditional", 33600, "0.00",
        each(MAY_JUNE, 33600), {BELOW, SUBSISTENCE, CONDITIONAL}),
    Row("a district uses its region's figures",
        family(A, region="611010000"), True, "conditional", 33600, "0.00",
        each(MAY_JUNE, 33600), {BELOW, SUBSISTENCE, CONDITIONAL}),
    # Aktobe 2026-Q1: 0.35 × 105,886 = 37,060.10 → 37,060
    Row("Aktobe's median income gives a poverty line of 37,060",
        family(A, region=AKTOBE), True, "conditional", 37060, "0.00",
        each(MAY_JUNE, 37060), {BELOW, MEDIAN, CONDITIONAL}),
    # Pavlodar 2026-Q1: 0.35 × 100,000 = 35,000 = 0.70 × 50,000
    Row("when both terms are equal the subsistence term is reported",
        family(A, region=PAVLODAR), True, "conditional", 35000, "0.00",
        each(MAY_JUNE, 35000), {BELOW, SUBSISTENCE, CONDITIONAL}),

    # ------------------------------------------------------------------------------------ incomes
    Row("on extension, employment-measure income is disregarded",
        family(A, S, extension=True, incomes=monthly(A, "employment_measure", Q1_2026, 60000)),
        True, "conditional", 38500, "0.00", each(MAY_JUNE, 77000), {BELOW, MEDIAN, CONDITIONAL},
        ignored=["disregarded_on_extension"] * 3),
    # 180,000 / 2 / 3 = 30,000; 8,500 × 2 = 17,000
    Row("on a first application, employment-measure income counts",
        family(A, S, incomes=monthly(A, "employment_measure", Q1_2026, 60000)),
        True, "conditional", 38500, "30000.00", each(MAY_JUNE, 17000), {BELOW, MEDIAN, CONDITIONAL}),
    # only February counts: 30,000 / 1 / 3 = 10,000; 38,500 − 10,000 = 28,500
    Row("incomes outside the assessment quarter are ignored",
        family(A, incomes=monthly(A, "wage", ("2025-12", "2026-04"), 100000) + monthly(A, "wage", ("2026-02",), 30000)),
        True, "conditional", 38500, "10000.00", each(MAY_JUNE, 28500), {BELOW, MEDIAN, CONDITIONAL},
        ignored=["outside_assessment_quarter"] * 2),
    Row("allowances, scholarships and TSA itself are not counted",
        family(A, incomes=monthly(A, "scholarship", Q1_2026, 50000) + monthly(A, "tsa", Q1_2026, 30000)
               + monthly(A, "large_family_allowance", Q1_2026[:1], 64000)),
        True, "conditional", 38500, "0.00", each(MAY_JUNE, 38500), {BELOW, MEDIAN, CONDITIONAL},
        ignored=["not_counted_type"] * 7),

    # ------------------------------------------------------------------------------------ history
    Row("a ban still applies on its last day",
        family(A, history=History(ban_until=date(2026, 5, 15))), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "BAN_ACTIVE"}),
    Row("a ban that ended the day before no longer applies",
        family(A, history=History(ban_until=date(2026, 5, 14))), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, CONDITIONAL}),
    # ban_months 6: terminated 2025-11-15 → barred to 2026-05-15 inclusive
    Row("a contract terminated through the family's fault bars a new assignment for ban_months, last day included",
        family(A, history=History(contract_terminated_on=date(2025, 11, 15))), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "BAN_ACTIVE"}),
    Row("ban_months after the termination a new assignment is possible",
        family(A, history=History(contract_terminated_on=date(2025, 11, 14))), True, "conditional", 38500, "0.00",
        each(MAY_JUNE, 38500), {BELOW, MEDIAN, CONDITIONAL}),
    Row("false information established by a commission refuses the application",
        family(A, history=History(false_information=True)), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "FALSE_INFORMATION"}),
    # n = 1: loans limit 50,000 × 3 × 1 = 150,000
    Row("every disqualifier that applies is reported",
        family(A, history=History(ban_until=date(2026, 6, 1), false_information=True),
               expenses=expenses(purchase=True, loans="1000000")), False, "conditional", 38500, "0.00",
        [], {BELOW, MEDIAN, CONDITIONAL, "BAN_ACTIVE", "FALSE_INFORMATION", "EXPENSE_PURCHASE", "EXPENSE_LOANS"}),

    # ------------------------------------------------------------------------ large-family allowance
    # n = 6: 450,000 / 6 / 3 = 25,000; 13,500 × 6 = 81,000; toddler 6,000; 16.03 × 4,000 = 64,120
    Row("4 children: 16.03 MCI a month, besides TSA",
        family(A, S, TODDLER, child("2018-01-05"), child("2014-03-03"), child("2011-02-02"),
               incomes=monthly(S, "wage", Q1_2026, 150000)),
        True, "conditional", 38500, "25000.00", each(MAY_JUNE, 81000, 6000),
        {BELOW, MEDIAN, CONDITIONAL, SUPPLEMENT, LARGE_FAMILY}, large_family=[(m, 64120) for m in MAY_JUNE]),
    # n = 7: 3,000,000 / 7 / 3 = 142,857.142… → 142,857.14, not below; 20.04 × 4,000 = 80,160
    Row("5 children: 20.04 MCI, paid whatever the income",
        family(A, S, *(child(f"{y}-01-15") for y in (2018, 2017, 2016, 2014, 2012)),
               incomes=monthly(S, "wage", Q1_2026, 1000000)),
        False, "conditional", 38500, "142857.14", [], {NOT_BELOW, MEDIAN, CONDITIONAL, LARGE_FAMILY},
        large_family=[(m, 80160) for m in MAY_JUNE]),
    # n = 8: 3,000,000 / 8 / 3 = 125,000; 24.05 × 4,000 = 96,200
    Row("6 children: 24.05 MCI",
        family(A, S, *(child(f"{y}-01-15") for y in (2018, 2017, 2016, 2014, 2012, 2010)),
               incomes=monthly(S, "wage", Q1_2026, 1000000)),
        False, "conditional", 38500, "125000.00", [], {NOT_BELOW, MEDIAN, CONDITIONAL, LARGE_FAMILY},
        large_family=[(m, 96200) for m in MAY_JUNE]),
    # n = 9: 3,000,000 / 9 / 3 = 111,111.11; 28.06 × 4,000 = 112,240
    Row("7 children: 28.06 MCI",
        family(A, S, *(child(f"{y}-01-15") for y in (2018, 2017, 2016, 2014, 2012, 2010, 2009)),
               incomes=monthly(S, "wage", Q1_2026, 1000000)),
        False, "conditional", 38500, "111111.11", [], {NOT_BELOW, MEDIAN, CONDITIONAL, LARGE_FAMILY},
        large_family=[(m, 112240) for m in MAY_JUNE]),
    # n = 9, no income: 38,500 × 9 = 346,500; children aged 2 and 4: 2 × 6,000; 8 × 4 × 4,000 = 128,000
    Row("8 children: 4 MCI per child",
        family(A, *(child(f"{y}-01-15") for y in (2024, 2022, 2019, 2017, 2016, 2014, 2012, 2010))),
        True, "conditional", 38500, "0.00", each(MAY_JUNE, 346500, 12000),
        {BELOW, MEDIAN, CONDITIONAL, SUPPLEMENT, LARGE_FAMILY}, large_family=[(m, 128000) for m in MAY_JUNE]),
    # n = 10: 6,000,000 / 10 / 3 = 200,000, not below; 9 × 4 × 4,000 = 144,000
    Row("9 children: 4 MCI per child",
        family(A, *(child(f"{y}-01-15") for y in (2018, 2017, 2016, 2015, 2014, 2013, 2012, 2010, 2009)),
               incomes=monthly(A, "wage", Q1_2026, 2000000)),
        False, "conditional", 38500, "200000.00", [], {NOT_BELOW, MEDIAN, CONDITIONAL, LARGE_FAMILY},
        large_family=[(m, 144000) for m in MAY_JUNE]),
    # children: turns 18 on 2026-05-20, a student of 20, two minors → 4 on 1 May, 3 on 1 June.
    # n = 6: 3,000,000 / 6 / 3 = 166,666.666… → 166,666.67
    Row("a child turning 18 in the period leaves the count; a student under 23 stays",
        family(A, S, child("2008-05-20"), child("2006-01-10", full_time_student=True), child("2012-01-01"),
               child("2015-01-01"), incomes=monthly(S, "wage", Q1_2026, 1000000)),
        False, "conditional", 38500, "166666.67", [], {NOT_BELOW, MEDIAN, CONDITIONAL, LARGE_FAMILY},
        large_family=[("2026-05", 64120)]),
    # 3 children + a 19-year-old non-student child + a grandchild of 5: 3 count. n = 6: 231,000
    Row("grandchildren and adult non-students are not large-family children",
        family(A, child("2018-01-15"), child("2016-01-15"), child("2014-01-15"), child("2007-01-15"),
               person("2021-01-15", "grandchild")),
        True, "conditional", 38500, "0.00", each(MAY_JUNE, 231000, 6000), {BELOW, MEDIAN, CONDITIONAL, SUPPLEMENT}),
    # 2025-05-15: MCI 3,601; 16.03 × 3,601 = 57,724.03 → 57,724. n = 6, 900,000 / 18 = 50,000: not below
    Row("the large-family allowance is rounded half-up to whole tenge",
        family(A, S, *(child(f"{y}-01-15") for y in (2018, 2016, 2014, 2012)), on="2025-05-15",
               incomes=monthly(S, "wage", ("2025-01", "2025-02", "2025-03"), 300000)),
        False, "conditional", 35000, "50000.00", [], {NOT_BELOW, MEDIAN, CONDITIONAL, LARGE_FAMILY},
        large_family=[(m, 57724) for m in ("2025-05", "2025-06")], months=("2025-05", "2025-06"),
        assessment_quarter="2025-Q1"),
]

PARAMS = world()


def test_the_table_is_a_specification_of_many_cases():
    assert len(ROWS) >= 40
    assert len({row.name for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_decision(row: Row):
    assert validate_case(row.case) == []
    decision = decide(row.case, PARAMS)

    assert decision.eligible is row.eligible
    assert decision.kind == row.kind
    assert decision.poverty_line == row.poverty_line
    assert str(decision.per_capita_income) == row.per_capita_income
    assert decision.assessment_quarter == row.assessment_quarter
    assert decision.period_months == row.months
    assert [(m.month, m.tsa, m.child_supplement) for m in decision.monthly] == row.paid
    assert all(m.total == m.tsa + m.child_supplement for m in decision.monthly)
    assert [(a.month, a.amount) for a in decision.large_family_allowance] == row.large_family
    assert set(decision.reason_codes) == row.reasons
    assert sorted(i.reason for i in decision.ignored_incomes) == row.ignored


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_the_bulk_path_agrees(row: Row):
    result = decide_columns(cases_to_columns([row.case]), PARAMS, workers=1)
    assert bool(result.eligible[0]) is row.eligible
    assert ("conditional" if result.kind[0] else "unconditional") == row.kind
    assert int(result.poverty_line[0]) == row.poverty_line
    assert f"{int(result.per_capita_income[0]) / 100:.2f}" == row.per_capita_income
    months = [month_first_day(int(result.first_month[0]) + j).strftime("%Y-%m") for j in range(int(result.months[0]))]
    assert tuple(months) == row.months
    paid = [(m, int(result.tsa[j, 0]), int(result.child_supplement[j, 0])) for j, m in enumerate(months)]
    assert paid == (row.paid or [(m, 0, 0) for m in months])
    allowance = [(m, int(result.large_family_allowance[j, 0])) for j, m in enumerate(months)]
    assert [a for a in allowance if a[1]] == row.large_family
    assert set(reason_codes_of(int(result.reasons[0]))) == row.reasons
