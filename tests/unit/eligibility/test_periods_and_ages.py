from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.domain.rules import add_months, age_on, assignment_months, latest_birth_date_for_age
from shared.calendar import Quarter, assessment_quarter


@pytest.mark.parametrize(("day", "assessed", "months"), [
    (date(2026, 1, 1), "2025-Q4", ["2026-01", "2026-02", "2026-03"]),
    (date(2026, 1, 31), "2025-Q4", ["2026-01", "2026-02", "2026-03"]),
    (date(2026, 3, 31), "2025-Q4", ["2026-03"]),
    (date(2026, 4, 1), "2026-Q1", ["2026-04", "2026-05", "2026-06"]),
    (date(2026, 11, 20), "2026-Q3", ["2026-11", "2026-12"]),
    (date(2024, 2, 29), "2023-Q4", ["2024-02", "2024-03"]),
])
def test_assessment_quarter_and_months_paid(day, assessed, months):
    assert str(assessment_quarter(day)) == assessed
    assert [f"{m:%Y-%m}" for m in assignment_months(day)] == months
    assert str(Quarter.of(day).previous()) == assessed


@pytest.mark.parametrize(("birth", "on", "age"), [
    (date(2000, 2, 29), date(2001, 2, 28), 0),
    (date(2000, 2, 29), date(2001, 3, 1), 1),
    (date(2000, 2, 29), date(2004, 2, 29), 4),
    (date(2000, 2, 29), date(2004, 2, 28), 3),
    (date(1963, 5, 15), date(2026, 5, 15), 63),
    (date(1963, 5, 16), date(2026, 5, 15), 62),
    (date(2025, 5, 20), date(2026, 5, 1), 0),
])
def test_age_in_full_years(birth, on, age):
    assert age_on(birth, on) == age


@pytest.mark.parametrize(("day", "months", "later"), [
    (date(2025, 11, 15), 6, date(2026, 5, 15)),
    (date(2025, 8, 31), 6, date(2026, 2, 28)),  # no 31 February: the month's last day
    (date(2023, 8, 31), 6, date(2024, 2, 29)),
    (date(2025, 12, 31), 2, date(2026, 2, 28)),
    (date(2025, 7, 10), 0, date(2025, 7, 10)),
])
def test_add_months_keeps_the_day_or_takes_the_last_of_a_shorter_month(day, months, later):
    assert add_months(day, months) == later


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(0, 90))
def test_latest_birth_date_for_age_is_the_boundary(on, years):
    boundary = latest_birth_date_for_age(on, years)
    assert age_on(boundary, on) >= years
    assert age_on(boundary + timedelta(days=1), on) < years


def test_small_rules_read_like_rules_md():
    from decimal import Decimal

    from services.eligibility.domain.rules import (
        child_supplement_per_child,
        large_family_allowance,
        large_family_rate_mci,
        large_family_rate_parameter,
        monthly_tsa,
        per_capita_income,
    )

    assert per_capita_income(Decimal("100000.00"), 3) == Decimal("11111.11")
    assert per_capita_income(Decimal("90000.03"), 2) == Decimal("15000.01")  # 15,000.005 half-up
    assert monthly_tsa(38500, 3800050, 3) == 1499  # (38,500 − 38,000.50) × 3 = 1,498.50
    assert child_supplement_per_child(Decimal("1.5"), Decimal(4325)) == 6488  # rules.md: 2026
    assert large_family_allowance(Decimal("16.03"), Decimal(4325)) == 69330  # 16.03 × 4,325 = 69,329.75
    assert large_family_rate_parameter(3) is None  # no allowance below 4 children
    assert large_family_rate_parameter(4) == "large_family_allowance_mci_4_children"
    assert large_family_rate_parameter(7) == "large_family_allowance_mci_7_children"
    assert large_family_rate_parameter(10) == "large_family_allowance_mci_per_child_8_or_more"
    assert large_family_rate_mci(7, Decimal("28.06")) == Decimal("28.06")
    rate_for_10 = large_family_rate_mci(10, Decimal("4.00"))
    assert rate_for_10 == 40 and large_family_allowance(rate_for_10, Decimal(4325)) == 173000  # 4 MCI × 10
