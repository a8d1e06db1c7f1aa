"""Business days in Kazakhstan, and deadlines counted in them.

A day is a business day unless it is a weekend or a public holiday. The public holidays, with
their observed days (a holiday on a weekend moves to the next working day) and the days off the
government moves each year (a bridge Friday, with the Saturday or Sunday that is worked in its
place), come from the `holidays` package. The government may still decree a day off the package
does not know (or move a day after the package was released): an administrator records it as a
`DecreedDay`, which overrides whatever the package says about that date — a day off
(`working=False`) or a working day (`working=True`, the Saturday worked for a bridge day).

Consent to read bank data (rules.md, Disqualifiers; seed 003) is answered "within one business
day": the deadline is the end of the next business day in Asia/Almaty after the request.

Pure Python: the service owning the decrees loads them and passes them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

import holidays

from shared.calendar import ALMATY

# Far more than any run of holidays and weekends; a calendar that finds no business day within
# it is broken (every day decreed a day off), not merely long.
_SEARCH_LIMIT_DAYS = 366


@dataclass(frozen=True, slots=True)
class DecreedDay:
    """A day the government decreed non-working (`working=False`) or working (`working=True`),
    as an administrator recorded it. `reason`: the decree, for whoever reads the calendar."""

    day: date
    working: bool
    reason: str


@dataclass(frozen=True, slots=True)
class DayStatus:
    """What the calendar says about one day, for whoever reads it: whether it is a business day
    and why not (`off`: weekend | public_holiday | decree), with the holiday's name or the decree
    (`name`; for a day decreed working, the decree that makes it one)."""

    day: date
    business_day: bool
    off: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class _PackageYear:
    holidays: dict[date, str]
    weekend_workdays: frozenset[date]


@lru_cache(maxsize=64)
def _package_year(year: int) -> _PackageYear:
    """The package's public holidays (observed and moved days off included) and worked
    weekend days of `year`. Built with the neighbouring years, so an observed day that falls
    across New Year is found."""
    calendar = holidays.country_holidays("KZ", years=(year - 1, year, year + 1), language="en_US")
    return _PackageYear(
        holidays={d: name for d, name in calendar.items() if d.year == year},
        weekend_workdays=frozenset(d for d in calendar.weekend_workdays if d.year == year),
    )


@dataclass(frozen=True)
class BusinessCalendar:
    """Kazakhstan's business days, with the administrators' decrees applied over the package's
    calendar (one decree per day: the latest an administrator recorded)."""

    decrees: dict[date, DecreedDay] = field(default_factory=dict)

    @classmethod
    def with_decrees(cls, decrees: Iterable[DecreedDay]) -> "BusinessCalendar":
        return cls({d.day: d for d in decrees})

    def is_business_day(self, day: date) -> bool:
        return self.non_business_reason(day) is None

    def non_business_reason(self, day: date) -> str | None:
        """Why `day` is not a business day (None when it is one)."""
        status = self.status(day)
        match status.off:
            case None:
                return None
            case "decree":
                return f"decreed non-working: {status.name}"
            case "public_holiday":
                return f"public holiday: {status.name}"
        return "weekend"

    def status(self, day: date) -> DayStatus:
        """`day` as the calendar sees it: a decree first, then the package's holidays and worked
        weekend days, then the weekend."""
        decree = self.decrees.get(day)
        if decree is not None:
            return DayStatus(day, decree.working, None if decree.working else "decree", decree.reason)
        package = _package_year(day.year)
        if day in package.holidays:
            return DayStatus(day, False, "public_holiday", package.holidays[day])
        if day in package.weekend_workdays or day.weekday() < 5:
            return DayStatus(day, True, None, None)
        return DayStatus(day, False, "weekend", None)

    def next_business_day(self, after: date) -> date:
        """The first business day strictly after `after`."""
        day = after
        for _ in range(_SEARCH_LIMIT_DAYS):
            day += timedelta(days=1)
            if self.is_business_day(day):
                return day
        raise ValueError(f"no business day within {_SEARCH_LIMIT_DAYS} days after {after.isoformat()}")

    def business_days_after(self, after: date, count: int) -> date:
        """The `count`-th business day after `after` (count ≥ 1)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        day = after
        for _ in range(count):
            day = self.next_business_day(day)
        return day

    def deadline(self, requested_at: datetime, business_days: int = 1) -> datetime:
        """The end of the `business_days`-th business day in Asia/Almaty after the Almaty date of
        `requested_at`, as an aware UTC time. The end of a day is the first instant of the next
        one: an answer counts when it comes strictly before the deadline."""
        if requested_at.tzinfo is None:
            raise ValueError("requested_at must be an aware datetime")
        requested_on = requested_at.astimezone(ALMATY).date()
        last_day = self.business_days_after(requested_on, business_days)
        end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=ALMATY)
        return end.astimezone(timezone.utc)


def consent_deadline(requested_at: datetime, calendar: BusinessCalendar) -> datetime:
    """Consent to read bank data is answered within one business day (seed 003): the end of the
    next business day in Asia/Almaty after the request."""
    return calendar.deadline(requested_at, business_days=1)
