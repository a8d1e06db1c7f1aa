"""Evidence: the incomes of the quarter before the application's, frozen with the family."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from services.verification import domain
from shared.calendar import Quarter
from shared.events.contracts import ApplicationSubmitted, BankAccount, CaseContext, FamilyMember, IncomeRecord
from tests.support import person

AT = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def submitted(application_date: date = date(2026, 11, 22)) -> ApplicationSubmitted:
    return ApplicationSubmitted(
        application=CaseContext(application_id=uuid.UUID(int=3), application_date=application_date,
                                region_kato="610000000", settlement="rural", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX")),
        expense_check_consent=False,
        members=[FamilyMember(**person(date(1990, 1, 1), "female", "applicant")),
                 FamilyMember(**person(date(2020, 1, 1), "male", "child"))],
    )


@pytest.mark.parametrize("application_date, quarter", [
    (date(2026, 11, 22), Quarter(2026, 3)),
    (date(2026, 1, 5), Quarter(2025, 4)),  # January: the last quarter of the year before
])
def test_the_quarter_assessed_is_the_one_before_the_application(application_date, quarter):
    assert domain.quarter_to_assess(submitted(application_date)) == quarter


def test_the_evidence_freezes_the_family_and_its_incomes_and_hands_them_on():
    event = submitted()
    incomes = [IncomeRecord(iin=event.members[0].iin, type="wage", month="2026-07", amount=Decimal("70000.00"))]
    evidence, completed = domain.freeze(event, incomes, evidence_id=uuid.UUID(int=9), at=AT)
    assert (evidence.id, evidence.application_id, evidence.assessment_quarter, evidence.collected_at) == (
        uuid.UUID(int=9), uuid.UUID(int=3), "2026-Q3", AT)
    assert evidence.members == tuple(event.members) and evidence.incomes == tuple(incomes)
    assert evidence.region_kato == "610000000"  # a case worker of the region reads it
    assert evidence.member_iins == tuple(m.iin for m in event.members)
    assert evidence.sources == {"income_registry": {"quarter": "2026-Q3", "members_queried": 2}}
    assert completed.application == event.application and completed.evidence_id == evidence.id
    assert completed.assessment_quarter == "2026-Q3"
    assert completed.members == event.members and completed.incomes == incomes

