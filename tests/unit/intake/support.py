"""Families, forms and reference data for intake's domain tests."""

from __future__ import annotations

from datetime import date, datetime, timezone

from services.intake import domain
from tests.support import HALYK_IBAN, person, sequential_ids

# 20:00 UTC on 31 March is already 1 April in Almaty: the application date is Almaty's.
AT = datetime(2026, 3, 31, 20, 0, tzinfo=timezone.utc)

BANKS = {b.bic: b for b in (
    domain.ParticipatingBank("HSBKKZKX", "601", "Halyk Bank"),
    domain.ParticipatingBank("KCJBKZKX", "856", "Bank CenterCredit"),
    domain.ParticipatingBank("CASPKZKA", "722", "Kaspi Bank"),
    domain.ParticipatingBank("ALFAKZKA", "947", "Alfa-Bank", active=False),
)}
SHIPPED = datetime(2023, 12, 1, tzinfo=timezone.utc)
ADULT_AGE_18 = (domain.ParameterValue("adult_age", None, date(2024, 1, 1), None, "18", SHIPPED),)


def member(p: dict) -> domain.Member:
    return domain.Member(**(p | {"birth_date": date.fromisoformat(p["birth_date"])}))


def form(members: list[domain.Member] | None = None, region: str = "610000000", iban: str = HALYK_IBAN,
         bic: str = "HSBKKZKX") -> domain.ApplicationForm:
    members = members or [member(person(date(1990, 5, 17), "female", "applicant", phone="+77011234567")),
                          member(person(date(2021, 3, 2), "male", "child"))]
    return domain.ApplicationForm(channel="egov", region_kato=region, settlement="urban", bank_iban=iban,
                                  bank_code=bic, expense_check_consent=True, members=tuple(members))


def submit(f: domain.ApplicationForm, taken: set[str] = frozenset(), parameters=ADULT_AGE_18):  # noqa: ANN001, ANN201
    return domain.submit(f, submitted_by="portal-1", at=AT, members_on_active_applications=taken, banks=BANKS,
                         parameters=parameters, new_id=sequential_ids())
