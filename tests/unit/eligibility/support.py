"""Builders for eligibility tests: a parameter world with round numbers, and families.

The test world (all recorded 2020-01-01 UTC, national unless a region is named):

| value                         | 2023   | 2024   | 2025    | 2026    |
|-------------------------------|--------|--------|---------|---------|
| mci                           | 3,000  | 3,200  | 3,601   | 4,000   |
| subsistence_minimum           | 40,000 | 42,000 | 45,000  | 50,000  |
| median_income                 |   —    | 80,000 | 100,000 | 110,000 |

Regional (2026-Q1 only, 2026-01-01..2026-03-31):
- Aktobe 150000000: median_income 105,886          → 0.35 × 105,886 = 37,060.10 → 37,060
- Turkestan 610000000: subsistence_minimum 48,000, median_income 80,000 → max(28,000; 33,600) = 33,600
- Pavlodar 550000000: median_income 100,000        → 35,000 = 0.70 × 50,000: a tie, subsistence wins

Shares: subsistence 0.70 from 2023-01-01; median 0.35 from 2025-01-01. Child supplement 1.5 MCI
for ages 1 to 6, adult at 18, students count as large-family children under 23, large-family rates
16.03 / 20.04 / 24.05 / 28.06 MCI for 4–7 children and 4 MCI per child from 8, deposit limit 200 MCI,
retirement 63 (men) / 61 (women), ban 6 months, consent required, counted types as rules.md,
disregarded on extension: employment_measure.

So for Astana (710000000, national figures) the poverty line is:
- application in 2026-Q2 (statistics 2026-Q1): max(0.35 × 110,000; 0.70 × 50,000) = 38,500 (median)
- application in 2025-Q2..Q4: max(35,000; 31,500) = 35,000 (median)
- application in 2025-Q1 (statistics 2024-Q4): max(0.35 × 80,000 = 28,000; 0.70 × 42,000 = 29,400) = 29,400
- application in 2024-Q2..Q4: 0.70 × 42,000 = 29,400 (no median term before 2025)
- application in 2024-Q1 (statistics 2023-Q4): 0.70 × 40,000 = 28,000
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

from services.eligibility.domain import (
    Case,
    Expenses,
    History,
    Income,
    Member,
    ParameterSet,
    ParameterValue,
    compose_iin,
)

RECORDED = datetime(2020, 1, 1, tzinfo=UTC)
ASTANA, AKTOBE, TURKESTAN, PAVLODAR = "710000000", "150000000", "610000000", "550000000"

COUNTED = ("wage", "business", "pension", "benefit", "alimony", "rent", "interest", "farming",
           "employment_measure", "other")


def value(name, amount, valid_from, valid_to=None, region=None, recorded_at=RECORDED) -> ParameterValue:
    if isinstance(amount, (int, str)) and not isinstance(amount, bool):
        amount = Decimal(amount)
    return ParameterValue(name, region, date.fromisoformat(valid_from),
                          date.fromisoformat(valid_to) if valid_to else None, amount, recorded_at)


def world_values() -> list[ParameterValue]:
    values = []
    for year, mci, minimum, median in ((2023, 3000, 40000, None), (2024, 3200, 42000, 80000),
                                       (2025, 3601, 45000, 100000), (2026, 4000, 50000, 110000)):
        values.append(value("mci", mci, f"{year}-01-01", f"{year}-12-31"))
        values.append(value("subsistence_minimum", minimum, f"{year}-01-01", f"{year}-12-31"))
        if median:
            values.append(value("median_income", median, f"{year}-01-01", f"{year}-12-31"))
    q1 = ("2026-01-01", "2026-03-31")
    values += [
        value("median_income", 105886, *q1, region=AKTOBE),
        value("subsistence_minimum", 48000, *q1, region=TURKESTAN),
        value("median_income", 80000, *q1, region=TURKESTAN),
        value("median_income", 100000, *q1, region=PAVLODAR),
        value("poverty_line_subsistence_share", "0.70", "2023-01-01"),
        value("poverty_line_median_share", "0.35", "2025-01-01"),
        value("child_supplement_mci", "1.5", "2023-01-01"),
        value("child_supplement_min_age", 1, "2023-01-01"),
        value("child_supplement_max_age", 6, "2023-01-01"),
        value("adult_age", 18, "2023-01-01"),
        value("student_child_age_limit", 23, "2023-01-01"),
        value("large_family_allowance_mci_4_children", "16.03", "2023-01-01"),
        value("large_family_allowance_mci_5_children", "20.04", "2023-01-01"),
        value("large_family_allowance_mci_6_children", "24.05", "2023-01-01"),
        value("large_family_allowance_mci_7_children", "28.06", "2023-01-01"),
        value("large_family_allowance_mci_per_child_8_or_more", "4.00", "2023-01-01"),
        value("deposit_limit_mci", 200, "2023-01-01"),
        value("retirement_age_male", 63, "2023-01-01"),
        value("retirement_age_female", 61, "2023-01-01"),
        value("ban_months", 6, "2023-01-01"),
        value("counted_income_types", COUNTED, "2023-01-01"),
        value("disregarded_on_extension_income_types", ("employment_measure",), "2023-01-01"),
        value("consent_required", True, "2023-01-01"),
    ]
    return values


def world(extra: list[ParameterValue] = (), as_of: datetime | None = None) -> ParameterSet:
    return ParameterSet([*world_values(), *extra], as_of=as_of)


# ----------------------------------------------------------------------------------------- families

_serials = itertools.count(1)


def person(born: str | date, relation: str, sex: str = "female", **flags) -> Member:
    """A member with a valid IIN matching the birth date and sex."""
    birth = date.fromisoformat(born) if isinstance(born, str) else born
    while True:
        iin = compose_iin(birth, sex, next(_serials) % 10000)
        if iin is not None:
            return Member(iin=iin, birth_date=birth, sex=sex, relation=relation, **flags)


def applicant(born: str = "1985-04-10", sex: str = "female", **flags) -> Member:
    return person(born, "applicant", sex, **flags)


def spouse(born: str = "1983-09-02", sex: str = "male", **flags) -> Member:
    return person(born, "spouse", sex, **flags)


def child(born: str, sex: str = "male", **flags) -> Member:
    return person(born, "child", sex, **flags)


def monthly(member: Member, kind: str, months: tuple[str, ...], amount: str | int) -> tuple[Income, ...]:
    """The same income in each month given as 'YYYY-MM'."""
    return tuple(Income(member.iin, kind, date.fromisoformat(m + "-01"), Decimal(str(amount))) for m in months)


Q1_2026 = ("2026-01", "2026-02", "2026-03")


def family(*members: Member, incomes=(), on: str = "2026-05-15", region: str = ASTANA, extension: bool = False,
           expenses: Expenses | None = None, history: History = History()) -> Case:
    return Case(region_kato=region, application_date=date.fromisoformat(on), extension=extension,
                members=tuple(members), incomes=tuple(incomes), expenses=expenses, history=history)


def expenses(consent: bool = True, purchase: bool = False, loans="0", spending="0", deposits="0") -> Expenses:
    return Expenses(consent=consent, home_or_car_purchase=purchase, non_mortgage_loans=Decimal(loans),
                    account_spending=Decimal(spending), deposits=Decimal(deposits))
