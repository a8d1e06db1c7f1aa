"""The consent deadline: the end of the next business day in Almaty after the request (seed 003:
"respond within one business day"; rules.md: public holidays are not business days)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from shared.business_days import BusinessCalendar, DayStatus, DecreedDay, consent_deadline
from shared.calendar import ALMATY

PACKAGE_ONLY = BusinessCalendar()
# An administrator's decrees: a Monday off, and a Saturday worked.
DECREED = BusinessCalendar.with_decrees([
    DecreedDay(date(2026, 6, 15), working=False, reason="government decree: day of mourning"),
    DecreedDay(date(2026, 6, 20), working=True, reason="government decree: worked for 2026-06-22"),
    DecreedDay(date(2026, 6, 22), working=False, reason="government decree: moved from 2026-06-20"),
])


def almaty(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ALMATY)


# (case, requested at, calendar, the deadline: the first instant after the last day to answer)
DEADLINES = [
    ("an ordinary Tuesday: end of Wednesday",
     almaty(2026, 3, 10, 11), PACKAGE_ONLY, almaty(2026, 3, 12)),
    ("a Friday: end of Monday",
     almaty(2026, 3, 13, 10), PACKAGE_ONLY, almaty(2026, 3, 17)),
    ("a Friday at 23:30 in Almaty, already Friday 18:30 UTC: still end of Monday",
     almaty(2026, 3, 13, 23, 30), PACKAGE_ONLY, almaty(2026, 3, 17)),
    ("Thursday 20:00 UTC is Friday 01:00 in Almaty: a Friday request, end of Monday",
     datetime(2026, 3, 12, 20, 0, tzinfo=timezone.utc), PACKAGE_ONLY, almaty(2026, 3, 17)),
    ("a Saturday: end of Monday",
     almaty(2026, 3, 14, 9), PACKAGE_ONLY, almaty(2026, 3, 17)),
    # Nauryz 2026: 21 (Sat), 22 (Sun), 23 March, observed on 24 and 25 March.
    ("the eve of Nauryz 2026 (Friday 20 March): end of Thursday 26 March",
     almaty(2026, 3, 20, 15), PACKAGE_ONLY, almaty(2026, 3, 27)),
    # Nauryz 2025: 21 (Fri), 22 (Sat), 23 (Sun), observed on 24 and 25 March.
    ("the eve of Nauryz 2025 (Thursday 20 March): end of Wednesday 26 March",
     almaty(2025, 3, 20, 15), PACKAGE_ONLY, almaty(2025, 3, 27)),
    # 1 January (Fri) and 2 January (Sat) 2027, the Saturday observed on Monday 4 January.
    ("31 December 2026 (Thursday): end of Tuesday 5 January 2027",
     almaty(2026, 12, 31, 17), PACKAGE_ONLY, almaty(2027, 1, 6)),
    # 1–2 January 2025 and 3 January off, moved from Sunday 5 January, which was worked.
    ("31 December 2024 (Tuesday): end of Sunday 5 January 2025, a worked Sunday",
     almaty(2024, 12, 31, 17), PACKAGE_ONLY, almaty(2025, 1, 6)),
    # Victory Day 2026 falls on Saturday 9 May and is observed on Monday 11 May.
    ("Friday 8 May 2026, before Victory Day observed on Monday: end of Tuesday 12 May",
     almaty(2026, 5, 8, 12), PACKAGE_ONLY, almaty(2026, 5, 13)),
    # Republic Day 2026 falls on Sunday 25 October and is observed on Monday 26 October.
    ("Friday 23 October 2026, before Republic Day observed on Monday: end of Tuesday 27 October",
     almaty(2026, 10, 23, 12), PACKAGE_ONLY, almaty(2026, 10, 28)),
    ("a Friday before a Monday decreed non-working: end of Tuesday",
     almaty(2026, 6, 12, 10), DECREED, almaty(2026, 6, 17)),
    ("on the decreed non-working day itself: end of the next business day",
     almaty(2026, 6, 15, 10), DECREED, almaty(2026, 6, 17)),
    ("without the decree the same Friday ends on Monday",
     almaty(2026, 6, 12, 10), PACKAGE_ONLY, almaty(2026, 6, 16)),
    ("a Friday before a Saturday decreed working: end of that Saturday",
     almaty(2026, 6, 19, 10), DECREED, almaty(2026, 6, 21)),
    ("that Saturday: the Monday it was worked for is off, end of Tuesday",
     almaty(2026, 6, 20, 10), DECREED, almaty(2026, 6, 24)),
]


@pytest.mark.parametrize(("requested_at", "calendar", "expected"), [c[1:] for c in DEADLINES],
                         ids=[c[0] for c in DEADLINES])
def test_consent_deadline(requested_at: datetime, calendar: BusinessCalendar, expected: datetime) -> None:
    deadline = consent_deadline(requested_at, calendar)
    assert deadline == expected
    assert deadline.utcoffset() == timedelta(0)


def test_the_deadline_is_an_instant_in_utc() -> None:
    # Almaty is UTC+5 since 1 March 2024: midnight there is 19:00 UTC the day before.
    assert consent_deadline(almaty(2026, 3, 13, 10), PACKAGE_ONLY) == datetime(2026, 3, 16, 19, 0, tzinfo=timezone.utc)
    # Before that it was UTC+6.
    assert consent_deadline(almaty(2023, 11, 14, 10), PACKAGE_ONLY) == datetime(2023, 11, 15, 18, 0,
                                                                                 tzinfo=timezone.utc)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        consent_deadline(datetime(2026, 3, 13, 10), PACKAGE_ONLY)


@pytest.mark.parametrize(("day", "reason"), [
    (date(2026, 3, 23), "public holiday: Nowruz Holiday"),
    (date(2026, 3, 25), "public holiday: Nowruz Holiday (observed)"),
    (date(2026, 3, 14), "weekend"),
    (date(2026, 6, 15), "decreed non-working: government decree: day of mourning"),
    (date(2026, 3, 26), None),
    (date(2025, 1, 5), None),  # a Sunday worked for Friday 3 January
    (date(2026, 6, 20), None),  # a Saturday decreed working
])
def test_why_a_day_is_not_a_business_day(day: date, reason: str | None) -> None:
    assert DECREED.non_business_reason(day) == reason


@pytest.mark.parametrize(("day", "business_day", "off", "name"), [
    (date(2026, 3, 25), False, "public_holiday", "Nowruz Holiday (observed)"),
    (date(2026, 3, 14), False, "weekend", None),
    (date(2026, 6, 15), False, "decree", "government decree: day of mourning"),
    (date(2026, 3, 26), True, None, None),
    (date(2025, 1, 5), True, None, None),  # a Sunday worked for Friday 3 January (the package's)
    (date(2026, 6, 20), True, None, "government decree: worked for 2026-06-22"),  # the decree that makes it one
])
def test_what_the_calendar_shows_of_a_day(day: date, business_day: bool, off: str | None, name: str | None) -> None:
    """What `GET /v1/business-days` lists: the same answer as the deadlines use."""
    assert DECREED.status(day) == DayStatus(day, business_day, off, name)
    assert DECREED.is_business_day(day) is business_day


def test_a_deadline_in_several_business_days() -> None:
    # Verification's bank deadline counts business days the same way.
    assert PACKAGE_ONLY.deadline(almaty(2026, 3, 19, 10), business_days=2) == almaty(2026, 3, 27)
    with pytest.raises(ValueError):
        PACKAGE_ONLY.deadline(almaty(2026, 3, 19, 10), business_days=0)


def test_a_calendar_with_no_business_day_is_an_error_not_a_hang() -> None:
    start = date(2026, 1, 1)
    every_day_off = BusinessCalendar.with_decrees(
        DecreedDay(start + timedelta(days=n), working=False, reason="all off") for n in range(400))
    with pytest.raises(ValueError, match="no business day"):
        every_day_off.next_business_day(start)
