"""The dashboard's pure rules: seed 003's social statuses, consent outcomes as flags, payments and
invitations from their events, the backlog's age in business days."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from services.reporting import domain
from shared.business_days import BusinessCalendar, DecreedDay
from shared.events.contracts import (
    ConsentExpired,
    ConsentGranted,
    ConsentRecord,
    ConsentRefused,
    ConsentRequested,
    ConsentWithdrawn,
    ContractDrafted,
    FamilyMember,
    FdcInvitationConverted,
    FdcInvitationIssued,
    Obligation,
    PaymentFailed,
    PaymentScheduled,
    PaymentSettled,
    ScheduledPayment,
)
from tests.support import person

ON = date(2027, 1, 10)
AT = datetime(2027, 1, 10, 5, 0, tzinfo=timezone.utc)


def member(birth: date, sex: str = "female", **flags) -> FamilyMember:  # noqa: ANN003
    return FamilyMember(**person(birth, sex, "other", **flags))


@pytest.mark.parametrize("who, status", [
    (member(date(2010, 1, 11)), "children"),  # 16, the day before the 17th birthday
    (member(date(2009, 1, 10), employed=True, carer=True), "employed"),  # 18 today, employed first
    (member(date(1990, 1, 1), carer=True, full_time_student=True), "carers"),
    (member(date(2005, 5, 5), full_time_student=True), "students"),
    (member(date(1980, 1, 1), "male"), "unemployed"),
    (member(date(1966, 1, 11), "female"), "unemployed"),  # 60: below women's retirement age, 61
    (member(date(1966, 1, 10), "female"), "other_status"),  # 61 today: retired
    (member(date(1964, 1, 11), "male"), "unemployed"),  # 62: below men's, 63
    (member(date(1980, 1, 1), disability_group=2), "other_status"),
    (member(date(1980, 1, 1), disability_group=3), "unemployed"),
])
def test_each_member_has_one_seed_003_status(who, status):
    assert domain.social_status(who, ON) == status


def test_a_family_is_counted_by_status_and_only_counted():
    counts = domain.social_statuses([member(date(2020, 1, 1)), member(date(2018, 1, 1)),
                                     member(date(1990, 1, 1), employed=True)], ON)
    assert counts == {"children": 2, "employed": 1, "carers": 0, "students": 0, "unemployed": 0, "other_status": 0}
    assert set(counts) == set(domain.SOCIAL_STATUSES)


def _record(status: str) -> ConsentRecord:
    return ConsentRecord(consent_id=uuid.uuid4(), application_id=uuid.uuid4(), iin="000000000000",
                         purpose="tsa_expense_check", data_categories=[], assessment_quarter="2026-Q4",
                         controller="MLSPP", legal_basis="consent", banks=[], method="sms_1414", status=status,
                         requested_at=AT, expires_at=AT)


@pytest.mark.parametrize("event, flags", [
    (ConsentRequested(consent=_record("requested"), family_consent="pending"), ("consent_requested",)),
    (ConsentGranted(consent=_record("granted"), family_consent="pending"), ("consent_requested",)),
    (ConsentGranted(consent=_record("granted"), family_consent="granted"), ("consent_requested", "consent_granted")),
    (ConsentRefused(consent=_record("refused"), family_consent="not_given"), ("consent_requested", "consent_refused")),
    (ConsentExpired(consent=_record("expired"), family_consent="not_given"), ("consent_requested", "consent_expired")),
    (ConsentWithdrawn(consent=_record("withdrawn"), family_consent="not_given"),
     ("consent_requested", "consent_withdrawn")),
])
def test_a_consent_event_turns_flags_on(event, flags):
    assert domain.consent_flags(event) == flags


def test_payments_from_each_of_their_events():
    app, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    scheduled = PaymentScheduled(application_id=app, decision_id=uuid.uuid4(), region_kato="610000000",
                                 settlement="rural", bank_code="HSBKKZKX", total=50000, payments=[
                                     ScheduledPayment(payment_id=first, month="2027-01", tsa=20000,
                                                      child_supplement=5000, total=25000),
                                     ScheduledPayment(payment_id=second, month="2027-02", tsa=20000,
                                                      child_supplement=5000, total=25000)])
    assert domain.payments_planned(scheduled) == [
        domain.PaymentPlanned(first, app, "HSBKKZKX", "2027-01", 25000),
        domain.PaymentPlanned(second, app, "HSBKKZKX", "2027-02", 25000)]
    # A bank reports an order (one component of a month, or a re-issue): its own id.
    order, other = uuid.uuid4(), uuid.uuid4()
    assert domain.order_reported(PaymentSettled(payment_id=order, application_id=app, month="2027-01",
                                                total=20000, bank_code="HSBKKZKX")) == \
        domain.OrderReported(order, app, "settled", "HSBKKZKX", "2027-01", 20000)
    assert domain.order_reported(PaymentFailed(payment_id=other, application_id=app, month="2027-02", total=5000,
                                               bank_code="HSBKKZKX", reason="account_closed")) == \
        domain.OrderReported(other, app, "failed", "HSBKKZKX", "2027-02", 5000)


def test_a_contracts_measures_are_counted_by_kind():
    drafted = ContractDrafted(contract_id=uuid.uuid4(), application_id=uuid.uuid4(), decision_id=uuid.uuid4(),
                              obligations=[Obligation(iin="1", measure="job_placement"),
                                           Obligation(iin="2", measure="training"),
                                           Obligation(iin="3", measure="job_placement")])
    assert domain.contract_measures(drafted) == {"job_placement": 2, "training": 1}


def test_an_invitation_tells_where_and_how_never_who():
    invitation, app = uuid.uuid4(), uuid.uuid4()
    issued = FdcInvitationIssued(invitation_id=invitation, quarter="2027-Q1", region_kato="610000000",
                                 settlement="rural", channel="fdc_sms", category="D", members=4, invited_at=AT,
                                 apply_by=date(2027, 2, 9))
    converted = FdcInvitationConverted(invitation_id=invitation, application_id=app, quarter="2027-Q1",
                                       region_kato="610000000", channel="fdc_sms", applied_at=AT)
    assert domain.invitation_facts(issued) == {"quarter": "2027-Q1", "region_kato": "610000000",
                                               "channel": "fdc_sms", "settlement": "rural", "issued": True}
    assert domain.invitation_facts(converted) == {"quarter": "2027-Q1", "region_kato": "610000000",
                                                  "channel": "fdc_sms", "application_id": app}
    for contract in (FdcInvitationIssued, FdcInvitationConverted):
        assert not {f for f in contract.model_fields if any(w in f for w in ("iin", "phone", "name", "birth"))}


@pytest.mark.parametrize("submitted, today, days", [
    (date(2031, 5, 20), date(2031, 5, 20), 0),  # today
    (date(2031, 5, 16), date(2031, 5, 19), 1),  # Friday → Monday
    (date(2031, 5, 17), date(2031, 5, 19), 1),  # submitted on Saturday: Monday is its first business day
    (date(2031, 5, 6), date(2031, 5, 12), 2),   # 7 and 9 May are holidays, 10–11 the weekend: the 8th and the 12th
    (date(2031, 4, 21), date(2031, 5, 20), 18),
])
def test_the_backlogs_age_is_counted_in_business_days(submitted, today, days):
    assert domain.business_days_since(submitted, today) == days


def test_a_decreed_day_off_is_not_counted():
    decreed = BusinessCalendar.with_decrees([DecreedDay(date(2031, 5, 19), working=False, reason="decree")])
    assert domain.business_days_since(date(2031, 5, 16), date(2031, 5, 20), decreed) == 1


@pytest.mark.parametrize("days, bucket", [(0, "0-2"), (2, "0-2"), (3, "3-5"), (5, "3-5"), (6, "6-10"),
                                          (10, "6-10"), (11, "over-10"), (400, "over-10")])
def test_buckets(days, bucket):
    assert domain.backlog_bucket(days) == bucket


def test_the_almaty_day_of_a_submission():
    # 20:00 UTC on the 19th is 01:00 on the 20th in Almaty (UTC+5).
    assert domain.almaty_date(datetime(2031, 5, 19, 20, 0, tzinfo=timezone.utc)) == date(2031, 5, 20)
