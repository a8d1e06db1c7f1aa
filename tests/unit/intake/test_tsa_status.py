"""What a Family Development Centre is told about a person: the TSA status of the latest
application they are a member of, its period and monthly amount."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from services.intake import domain
from tests.support import decided_event

from .support import form, submit


def _application(status: str, eligible: bool | None = None) -> domain.Application:
    application = submit(form())[0]
    decision = None
    if eligible is not None:
        decision = decided_event(eligible=eligible, application_id=application.id).payload().model_dump(
            mode="json", exclude={"application", "members", "able_bodied_iins"})
    return replace(application, status=status, decision=decision)


def test_a_person_who_never_applied_has_none():
    assert domain.tsa_status(None) == domain.TsaStatus("none")


@pytest.mark.parametrize("status, eligible, expected", [
    (domain.SUBMITTED, None, "applying"),
    (domain.VERIFIED, None, "applying"),
    (domain.DECISION_PENDING, None, "applying"),
    (domain.APPROVED, True, "approved"),
    (domain.CONTRACT_DRAFTED, True, "approved"),
    (domain.CONTRACT_SIGNED, True, "approved"),
    (domain.PAYMENTS_SCHEDULED, True, "paid"),
    (domain.REJECTED, False, "rejected"),
    (domain.WITHDRAWN, None, "withdrawn"),
])
def test_every_application_status_tells_a_tsa_status(status, eligible, expected):
    application = _application(status, eligible)
    found = domain.tsa_status(application)
    assert (found.status, found.application_id, found.application_status) == (expected, application.id, status)
    if eligible:
        assert (found.period_quarter, found.period_from, found.period_to, found.monthly_amount) == (
            "2026-Q4", "2026-11", "2026-12", 25596)
    else:
        assert (found.period_quarter, found.period_from, found.period_to, found.monthly_amount) == (
            None, None, None, None)


def test_every_status_is_covered():
    assert set(domain.TSA_STATUS) == set(domain._ORDER) | domain.FINAL
    assert uuid.UUID(int=1) == submit(form())[0].id
