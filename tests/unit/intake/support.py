"""Families and forms for intake's domain tests."""

from __future__ import annotations

from datetime import date, datetime, timezone

from services.intake import domain
from tests.support import person, sequential_ids

# 20:00 UTC on 31 March is already 1 April in Almaty: the application date is Almaty's.
AT = datetime(2026, 3, 31, 20, 0, tzinfo=timezone.utc)


def member(p: dict) -> domain.Member:
    return domain.Member(**(p | {"birth_date": date.fromisoformat(p["birth_date"])}))


def form(members: list[domain.Member] | None = None, region: str = "610000000") -> domain.ApplicationForm:
    members = members or [member(person(date(1990, 5, 17), "female", "applicant", phone="+77011234567")),
                          member(person(date(2021, 3, 2), "male", "child"))]
    return domain.ApplicationForm(channel="egov", region_kato=region, settlement="urban",
                                  bank_iban="KZ86125KZT5004100100", bank_code="HSBKKZKX",
                                  expense_check_consent=True, extension=False, members=tuple(members))


def submit(f: domain.ApplicationForm, taken: set[str] = frozenset()):  # noqa: ANN201
    return domain.submit(f, submitted_by="portal-1", at=AT, members_on_active_applications=taken, new_id=sequential_ids())
