"""Calendar value types: quarters, months and the business time zone (Asia/Almaty).

Times are stored in UTC; business dates (the date of an application, the month paid) are
taken in Asia/Almaty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

ALMATY = ZoneInfo("Asia/Almaty")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def business_date(moment: datetime | None = None) -> date:
    """The date in Almaty at `moment` (now by default)."""
    return (moment or utcnow()).astimezone(ALMATY).date()


@dataclass(frozen=True, slots=True, order=True)
class Quarter:
    year: int
    number: int  # 1..4

    @classmethod
    def of(cls, day: date) -> "Quarter":
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def parse(cls, text: str) -> "Quarter":
        year, q = text.split("-Q")
        return cls(int(year), int(q))

    def previous(self) -> "Quarter":
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    def next(self) -> "Quarter":
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_month(self) -> int:
        return 3 * self.number

    @property
    def month_index(self) -> int:
        """Months since year 0 of the quarter's first month (year*12 + month-1)."""
        return self.year * 12 + 3 * self.number - 3

    @property
    def last_day(self) -> date:
        nxt = self.next().first_day
        return date.fromordinal(nxt.toordinal() - 1)

    def months(self) -> list[date]:
        return [date(self.year, 3 * self.number - 2 + i, 1) for i in range(3)]

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"


def assessment_quarter(application_date: date) -> Quarter:
    """Q−1: incomes and expenses are assessed over the quarter before the one the application
    falls in (rules.md, "The calculation"; January → Q4 of the year before)."""
    return Quarter.of(application_date).previous()


def age_on(birth_date: date, on: date) -> int:
    """Full years at `on` (rules.md: ages are full years; born 29 February, a year older on
    1 March in common years)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def month_label(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(text: str) -> date:
    year, month = text.split("-")
    return date(int(year), int(month), 1)
