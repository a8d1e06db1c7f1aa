"""An application's life ends (issue 12): an assigned application holds its members for its
assignment period only, and a family may withdraw its application until a payment is scheduled."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from services.intake import domain
from shared.events.contracts import ApplicationWithdrawn

from .support import form, submit
from .test_following import AT, decided

BEFORE_PAYMENT = sorted(domain.WITHDRAWABLE)
AFTER = [domain.PAYMENTS_SCHEDULED, domain.CONTRACT_SIGNED, *sorted(domain.FINAL)]


def approved() -> domain.Application:
    """Approved for 2026-Q4 (paid November and December 2026)."""
    application = submit(form())[0]
    return domain.follow(application, decided(application), event_id=uuid.uuid4(), at=AT)[0]


@pytest.mark.parametrize("status", BEFORE_PAYMENT)
def test_withdrawn_before_any_payment_frees_its_members(status):
    application = replace(submit(form())[0], status=status)
    at = datetime(2026, 4, 3, 5, 0, tzinfo=timezone.utc)
    withdrawn, change, event = domain.withdraw(application, reason="circumstances_changed", at=at)
    assert withdrawn.status == domain.WITHDRAWN and not withdrawn.holds_members
    assert change == domain.StatusChange(domain.WITHDRAWN, at, None, {"reason": "circumstances_changed"})
    assert withdrawn.timeline[-1] == change
    assert event == ApplicationWithdrawn(application_id=application.id, reason="circumstances_changed", withdrawn_at=at)


@pytest.mark.parametrize("status", AFTER)
def test_not_withdrawn_once_paid_or_final(status):
    application = replace(submit(form())[0], status=status)
    with pytest.raises(domain.NotWithdrawable) as refused:
        domain.withdraw(application, reason="other", at=AT)
    assert refused.value.problems == [("status", f"'{status}' is past withdrawal")]


def test_every_status_is_either_withdrawable_or_not():
    every = {*domain._ORDER, *domain.FINAL}
    assert domain.WITHDRAWABLE < every
    assert domain.PAYMENTS_SCHEDULED not in domain.WITHDRAWABLE and domain.CONTRACT_SIGNED not in domain.WITHDRAWABLE


def test_a_withdrawal_reason_is_a_code():
    with pytest.raises(ValueError):
        domain.withdraw(submit(form())[0], reason="my IIN is 900517401231", at=AT)


def test_a_withdrawn_application_stays_withdrawn_whatever_arrives_later():
    application, _, _ = domain.withdraw(submit(form())[0], reason="no_longer_needed", at=AT)
    followed, change = domain.follow(application, decided(application), event_id=uuid.uuid4(), at=AT)
    assert followed.status == domain.WITHDRAWN and change is not None  # kept in the timeline, status unmoved


def test_the_period_is_the_decisions_quarter():
    assert domain.period_last_day(approved().decision) == date(2026, 12, 31)
    assert domain.period_last_day(None) is None
    assert domain.period_last_day({"eligible": False, "period_quarter": "2026-Q4", "monthly": []}) is None
    assert domain.period_last_day({"eligible": True, "period_quarter": "2026-Q4",
                                   "monthly": [{"month": "2027-01"}]}) == date(2027, 1, 31)


@pytest.mark.parametrize("status", sorted(domain.ASSIGNED))
def test_an_assigned_application_holds_its_members_until_its_period_is_over(status):
    application = replace(approved(), status=status)
    assert application.holds_members
    assert not domain.period_over(application, date(2026, 12, 31))  # the last day of the period
    assert domain.period_over(application, date(2027, 1, 1))
    at = datetime(2026, 12, 31, 19, 0, tzinfo=timezone.utc)  # 1 January 2027 in Almaty
    ended, change = domain.end_period(application, at=at)
    assert ended.status == domain.ENDED and not ended.holds_members
    assert change == domain.StatusChange(domain.ENDED, at, None, {"period_to": "2026-12", "period_quarter": "2026-Q4"})
    assert domain.tsa_status(ended).status == "ended"


@pytest.mark.parametrize("status", [domain.SUBMITTED, domain.VERIFIED, domain.DECISION_PENDING, *sorted(domain.FINAL)])
def test_only_an_assigned_application_ends_with_its_period(status):
    assert not domain.period_over(replace(approved(), status=status), date(2030, 1, 1))


def test_an_ended_application_is_final():
    ended, _ = domain.end_period(replace(approved(), status=domain.PAYMENTS_SCHEDULED), at=AT)
    assert not domain.can_move(domain.ENDED, domain.COMPLETED)
    assert not domain.can_move(domain.ENDED, domain.PAYMENTS_SCHEDULED)


@pytest.mark.parametrize("status", sorted(domain.FINAL))
def test_final_applications_free_their_members(status):
    assert not replace(approved(), status=status).holds_members
