"""Payments: an approval becomes an assignment; every month with something to pay gets exactly one
payment, after the contract is signed if the assistance is conditional; a bank reports each
payment once."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

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
        (uuid.UUID(int=1), "2026-11", 25596, domain.PLANNED, "KCJBKZKX"),
        (uuid.UUID(int=2), "2026-12", 25596, domain.PLANNED, "KCJBKZKX")]
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


def test_a_signature_parked_before_the_decision_plans_the_months_when_the_decision_arrives():
    d = decision(kind="conditional")
    step = domain.assign(None, d, already_scheduled=NOTHING_SCHEDULED, new_id=sequential_ids(), contract_signed=True)
    assert step.assignment.status == domain.SCHEDULED
    assert [p.month for p in step.payments] == ["2026-11", "2026-12"] and step.event.total == 2 * 25596


def test_a_termination_parked_before_the_decision_cancels_the_later_months_at_once():
    d = decision(kind="conditional")
    step = domain.assign(None, d, already_scheduled=NOTHING_SCHEDULED, new_id=sequential_ids(), contract_signed=True,
                         terminated_on=date(2026, 11, 14))
    assert [(p.month, p.status) for p in step.payments] == [("2026-11", domain.PLANNED), ("2026-12", domain.CANCELLED)]
    assert [s.month for s in step.event.payments] == ["2026-11"] and step.event.total == 25596


# ---- release, batches and checksum ---------------------------------------------------------------

def plan(month="2026-12", tsa=25596, child=6488, bank="HSBKKZKX", status=domain.PLANNED, n=100):  # noqa: ANN001, ANN201
    return domain.Payment(id=uuid.UUID(int=n), application_id=uuid.UUID(int=n + 1), decision_id=uuid.UUID(int=n + 2),
                          month=month, tsa=tsa, child_supplement=child, total=tsa + child,
                          bank_iban="KZ86125KZT5004100100", bank_code=bank, status=status)


def run(month, plans, ordered=frozenset(), pending=(), terminations=None):  # noqa: ANN001, ANN201
    return domain.release(month, planned=plans, ordered=ordered, pending=pending, terminations=terminations or {},
                          new_id=sequential_ids(1000))


def test_a_release_orders_each_component_and_groups_one_batch_per_bank():
    plans = [plan(n=100), plan(n=200, bank="KCJBKZKX", child=0), plan(n=300), plan(month="2027-01", n=400)]
    released = run("2026-12", plans)
    assert sorted((o.payment_id.int, o.component, o.amount, o.status) for o in released.orders) == [
        (100, "child_supplement", 6488, domain.RELEASED), (100, "tsa", 25596, domain.RELEASED),
        (200, "tsa", 25596, domain.RELEASED),
        (300, "child_supplement", 6488, domain.RELEASED), (300, "tsa", 25596, domain.RELEASED)]
    assert [(b.bank_code, b.count, b.total) for b in released.batches] == [
        ("HSBKKZKX", 4, 2 * (25596 + 6488)), ("KCJBKZKX", 1, 25596)]
    for batch in released.batches:
        mine = [o for o in released.orders if o.batch_id == batch.id]
        assert set(batch.order_ids) == {o.id for o in mine} and batch.checksum == domain.batch_checksum(mine)
    assert {p.id.int for p in released.payments} == {100, 200, 300}


def test_releasing_again_orders_nothing_already_ordered():
    plans = [plan(n=100)]
    first = run("2026-12", plans)
    again = run("2026-12", plans, ordered=frozenset((o.payment_id, o.component) for o in first.orders))
    assert again.orders == () and again.batches == ()


def test_a_release_takes_the_reissues_waiting_for_its_month_or_an_earlier_one():
    failed = replace(run("2026-11", [plan(month="2026-11")]).orders[0], status=domain.FAILED)
    reissued = domain.reissue(failed, iban="KZ0000000000000000XX", bank_code="KCJBKZKX", reissued_already=False,
                              terminated_on=None, new_id=lambda: uuid.UUID(int=9))
    assert run("2026-10", [], pending=[reissued]).orders == ()
    later = run("2026-12", [], pending=[reissued])
    assert [(o.id.int, o.reissue_of, o.status, o.bank_code) for o in later.orders] == [
        (9, failed.id, domain.RELEASED, "KCJBKZKX")]


def test_the_checksum_is_sha256_over_the_sorted_order_lines():
    import hashlib

    orders = run("2026-12", [plan()]).orders
    lines = sorted(f"{o.id}|{o.month}|{o.component}|{o.amount}|{o.bank_iban}" for o in orders)
    assert domain.batch_checksum(orders) == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert domain.batch_checksum(reversed(orders)) == domain.batch_checksum(orders)  # order-independent
    assert domain.batch_checksum([replace(orders[0], amount=orders[0].amount + 1), *orders[1:]]) != \
        domain.batch_checksum(orders)


def test_a_month_after_a_termination_is_not_released():
    assert run("2026-12", [plan()], terminations={uuid.UUID(int=101): date(2026, 11, 14)}).orders == ()
    assert len(run("2026-12", [plan()], terminations={uuid.UUID(int=101): date(2026, 12, 31)}).orders) == 2


# ---- a bank's report ---------------------------------------------------------------------------

def order(status=domain.RELEASED):  # noqa: ANN001, ANN201
    return replace(run("2026-12", [plan(child=0)]).orders[0], status=status)


def report(o, status="settled", amount=25596, bank="HSBKKZKX", reason=None):  # noqa: ANN001, ANN201
    return domain.record_bank_status(o, bank_code=bank, status=status, amount=amount, reason=reason)


def test_a_bank_settles_a_released_order_with_its_amount():
    released = order()
    settled, event = report(released)
    assert settled == replace(released, status=domain.SETTLED)
    assert event == PaymentSettled(payment_id=released.id, application_id=released.application_id,
                                   month="2026-12", total=25596, bank_code="HSBKKZKX")


def test_a_bank_reports_a_released_order_failed_and_again_is_a_retry():
    failed, event = report(order(), "failed", None, reason="account_closed")
    assert (failed.status, failed.reason) == (domain.FAILED, "account_closed")
    assert isinstance(event, PaymentFailed) and event.reason == "account_closed"
    assert report(failed, "failed", None, reason="account_closed") == (failed, None)
    recalled = order(domain.RECALLED)  # the bank did not pay a recalled order: what the recall asked
    assert report(recalled, "failed", None, reason="other") == (recalled, None)


@pytest.mark.parametrize("status, reported, amount, bank, anomaly, http", [
    (domain.SETTLED, "settled", 25596, "HSBKKZKX", domain.DUPLICATE_SETTLEMENT, 409),
    (domain.RELEASED, "settled", 25595, "HSBKKZKX", domain.AMOUNT_MISMATCH, 409),
    (domain.RELEASED, "settled", 25596, "KCJBKZKX", domain.FOREIGN_ORDER, 403),
    (domain.RECALLED, "settled", 25596, "HSBKKZKX", domain.SETTLEMENT_OF_RECALLED, 409),
    (domain.FAILED, "settled", 25596, "HSBKKZKX", domain.SETTLEMENT_AFTER_FAILURE, 409),
    (domain.PENDING, "settled", 25596, "HSBKKZKX", domain.NOT_RELEASED, 409),
    (domain.SETTLED, "failed", None, "HSBKKZKX", domain.FAILURE_AFTER_SETTLEMENT, 409),
])
def test_what_could_pay_twice_or_pay_what_was_not_ordered_is_refused_and_flagged(status, reported, amount, bank,
                                                                                   anomaly, http):
    with pytest.raises(domain.PaymentRefused) as refused:
        report(order(status), reported, amount, bank, reason="other")
    assert (refused.value.anomaly, refused.value.status) == (anomaly, http)


# ---- re-issue and termination ------------------------------------------------------------------

def test_only_a_failed_order_is_reissued_once_to_the_corrected_account():
    failed = order(domain.FAILED)
    new = domain.reissue(failed, iban="KZ0000000000000000XX", bank_code="KCJBKZKX", reissued_already=False,
                         terminated_on=None, new_id=lambda: uuid.UUID(int=7))
    assert (new.id.int, new.reissue_of, new.status, new.batch_id, new.month, new.component, new.amount) == (
        7, failed.id, domain.PENDING, None, failed.month, failed.component, failed.amount)
    assert (new.bank_iban, new.bank_code) == ("KZ0000000000000000XX", "KCJBKZKX")
    for other, already, ended in [(order(), False, None), (failed, True, None), (failed, False, date(2026, 11, 30))]:
        with pytest.raises(domain.PaymentRefused):
            domain.reissue(other, iban="KZ0000000000000000XX", bank_code="KCJBKZKX", reissued_already=already,
                           terminated_on=ended, new_id=lambda: uuid.UUID(int=8))


def test_a_termination_cancels_later_months_recalls_released_orders_and_pays_its_own_month():
    november, december, january = plan("2026-11", n=10), plan("2026-12", n=20), plan("2027-01", n=30)
    nov_orders = run("2026-11", [november]).orders
    dec_orders = run("2026-12", [december]).orders
    settled_dec = replace(dec_orders[0], status=domain.SETTLED)
    stop = domain.terminate(date(2026, 11, 14), payments=[replace(november, status=domain.RELEASED),
                                                          replace(december, status=domain.RELEASED), january],
                            orders=[*nov_orders, settled_dec, dec_orders[1]])
    assert sorted((p.month, p.status) for p in stop.payments) == [("2026-12", domain.RECALLED),
                                                                   ("2027-01", domain.CANCELLED)]
    assert [(o.id, o.status) for o in stop.orders] == [(dec_orders[1].id, domain.RECALLED)]
    assert [(a.kind, a.order_id) for a in stop.anomalies] == [(domain.SETTLED_AFTER_TERMINATION, settled_dec.id)]


def test_a_month_shows_the_least_advanced_of_its_standing_orders():
    p = plan(status=domain.RELEASED)
    tsa, child = run("2026-12", [plan()]).orders
    assert domain.month_status(plan(), []) == (domain.PLANNED, None)
    assert domain.month_status(p, [replace(tsa, status=domain.SETTLED), child])[0] == domain.RELEASED
    failed = replace(child, status=domain.FAILED, reason="iban_invalid")
    assert domain.month_status(p, [replace(tsa, status=domain.SETTLED), failed]) == (domain.FAILED, "iban_invalid")
    again = domain.reissue(failed, iban="KZ0000000000000000XX", bank_code="KCJBKZKX", reissued_already=False,
                           terminated_on=None, new_id=lambda: uuid.UUID(int=5))
    assert domain.month_status(p, [replace(tsa, status=domain.SETTLED), failed, again])[0] == domain.REISSUE_PENDING
    assert domain.month_status(p, [replace(tsa, status=domain.SETTLED), failed,
                                   replace(again, status=domain.SETTLED)]) == (domain.SETTLED, None)


def test_reconciliation_explains_every_tenge_ordered_per_bank():
    tsa, child = run("2026-12", [plan()]).orders
    failed = replace(child, status=domain.FAILED)
    again = replace(domain.reissue(failed, iban="KZ0000000000000000XX", bank_code="KCJBKZKX", reissued_already=False,
                                   terminated_on=None, new_id=lambda: uuid.UUID(int=3)), status=domain.RELEASED)
    cancelled = plan("2026-12", n=500, status=domain.CANCELLED, bank="KCJBKZKX")
    ledgers = domain.reconcile([replace(tsa, status=domain.SETTLED), failed, again], [cancelled])
    halyk, kaspi = ledgers["HSBKKZKX"], ledgers["KCJBKZKX"]
    assert (dict(halyk.counts), dict(halyk.tenge)) == (
        {"ordered": 2, "settled": 1, "failed": 1}, {"ordered": 32084, "settled": 25596, "failed": 6488})
    assert dict(kaspi.tenge) == {"reissued": 6488, "ordered": 6488, "outstanding": 6488, "cancelled": 32084}
    assert domain.family_mismatches([replace(plan(), status=domain.RELEASED)],
                                    [replace(tsa, status=domain.SETTLED), failed,
                                     replace(again, status=domain.SETTLED)]) == []
    # paid twice for one component would show (the domain never lets it happen)
    assert domain.family_mismatches([plan()], [replace(tsa, status=domain.SETTLED),
                                               replace(tsa, id=uuid.UUID(int=4), status=domain.SETTLED),
                                               replace(child, status=domain.SETTLED)])[0]["settled"] == 25596 * 2 + 6488
