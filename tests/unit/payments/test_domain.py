"""Payments: an approval becomes an assignment; every month with something to pay gets exactly one
payment, after the contract is signed if the assistance is conditional; a bank reports each
payment once."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from services.payments import domain
from shared.events.contracts import MonthlyAmount, PaymentFailed, PaymentSettled
from tests.support import decided_event, sequential_ids

NOTHING_SCHEDULED: frozenset[str] = frozenset()


def decision(**overrides):  # noqa: ANN003, ANN201
    return decided_event(**overrides).payload()


def with_months(d, *months: tuple[str, int]):  # noqa: ANN001, ANN201
    return d.model_copy(update={"monthly": [MonthlyAmount(month=m, tsa=t, child_supplement=0, total=t)
                                            for m, t in months]})


def assign(d, existing=None, already=NOTHING_SCHEDULED):  # noqa: ANN001, ANN201
    return domain.assign(existing, d, already_scheduled=already, new_id=sequential_ids())


def test_an_unconditional_approval_is_scheduled_at_once_month_by_month():
    d = decision(kind="unconditional", bank_code="KCJBKZKX")
    step = assign(d)
    assert step.assignment.status == domain.SCHEDULED
    assert step.assignment.monthly == tuple(d.monthly)
    # the family (its members read its payments) and its region (its case workers do)
    assert step.assignment.member_iins == tuple(m.iin for m in d.members)
    assert step.assignment.region_kato == "610000000"
    assert [(p.id, p.month, p.total, p.status, p.bank_code) for p in step.payments] == [
        (uuid.UUID(int=1), "2026-11", 25596, domain.PAYMENT_SCHEDULED, "KCJBKZKX"),
        (uuid.UUID(int=2), "2026-12", 25596, domain.PAYMENT_SCHEDULED, "KCJBKZKX")]
    assert all(p.application_id == d.application.application_id and p.decision_id == d.decision_id
               for p in step.payments)
    event = step.event
    assert (event.application_id, event.decision_id, event.bank_code, event.total) == (
        d.application.application_id, d.decision_id, "KCJBKZKX", 2 * 25596)
    assert [(s.payment_id, s.month, s.total) for s in event.payments] == [
        (p.id, p.month, p.total) for p in step.payments]


def test_a_month_with_nothing_to_pay_gets_no_payment():
    step = assign(with_months(decision(), ("2026-10", 0), ("2026-11", 30000), ("2026-12", 30000)))
    assert [p.month for p in step.payments] == ["2026-11", "2026-12"]
    assert step.event.total == 60000


def test_a_month_already_scheduled_for_the_application_is_never_scheduled_again():
    step = assign(decision(), already=frozenset({"2026-11"}))
    assert [p.month for p in step.payments] == ["2026-12"]
    assert [s.month for s in step.event.payments] == ["2026-12"] and step.event.total == 25596


def test_when_every_month_is_scheduled_nothing_is_announced():
    step = assign(decision(), already=frozenset({"2026-11", "2026-12"}))
    assert step.payments == () and step.event is None


def test_a_conditional_approval_waits_for_the_contract():
    step = assign(decision(kind="conditional"))
    assert step.assignment.status == domain.AWAITING_CONTRACT
    assert step.payments == () and step.event is None


@pytest.mark.parametrize("existing", [False, True])
def test_a_refusal_or_a_decision_delivered_again_assigns_nothing(existing):
    if existing:
        d = decision()
        assert assign(d, existing=assign(d).assignment) is None
    else:
        assert assign(decision(eligible=False)) is None


def test_signing_the_contract_schedules_the_waiting_assignment():
    waiting = assign(decision(kind="conditional")).assignment
    step = domain.schedule_after_signing(waiting, already_scheduled=NOTHING_SCHEDULED, new_id=sequential_ids())
    assert step.assignment == replace(waiting, status=domain.SCHEDULED)
    assert [p.month for p in step.payments] == ["2026-11", "2026-12"] and step.event.total == 2 * 25596


def test_a_signature_delivered_again_schedules_nothing():
    scheduled = assign(decision(kind="unconditional")).assignment
    assert domain.schedule_after_signing(scheduled, already_scheduled=NOTHING_SCHEDULED,
                                         new_id=sequential_ids()) is None


def payment(status: str = domain.PAYMENT_SCHEDULED) -> domain.Payment:
    return replace(assign(decision()).payments[0], status=status)


def test_a_bank_settles_a_scheduled_payment():
    scheduled = payment()
    settled, event = domain.record_bank_status(scheduled, domain.SETTLED, None)
    assert settled == replace(scheduled, status=domain.SETTLED)
    assert event == PaymentSettled(payment_id=scheduled.id, application_id=scheduled.application_id,
                                   month="2026-11", total=25596, bank_code="HSBKKZKX")


@pytest.mark.parametrize("reason, announced", [("closed account", "closed account"), (None, "unspecified")])
def test_a_bank_reports_a_scheduled_payment_failed(reason, announced):
    scheduled = payment()
    failed, event = domain.record_bank_status(scheduled, domain.FAILED, reason)
    assert (failed.status, failed.status_reason) == (domain.FAILED, reason)
    assert isinstance(event, PaymentFailed) and event.reason == announced and event.payment_id == scheduled.id


@pytest.mark.parametrize("status", [domain.SETTLED, domain.FAILED])
def test_the_same_report_again_is_a_retried_callback(status):
    reported = payment(status)
    again, event = domain.record_bank_status(reported, status, "another reason")
    assert again == reported and event is None


@pytest.mark.parametrize("current, new", [(domain.SETTLED, domain.FAILED), (domain.FAILED, domain.SETTLED)])
def test_a_reported_payment_never_changes_its_outcome(current, new):
    with pytest.raises(domain.PaymentStatusFinal, match=f"already {current}; it cannot become {new}"):
        domain.record_bank_status(payment(current), new, None)
