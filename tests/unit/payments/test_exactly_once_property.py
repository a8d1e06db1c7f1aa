"""Property: whatever sequence of releases, bank reports (duplicated, reordered, for the wrong
bank or amount, for orders that do not exist), re-issues and terminations happens, no (plan month,
component) is ever settled twice, the settled total of a family's month never exceeds the
decision's monthly total, and nothing is paid for a month after a known termination."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from services.payments import domain

MONTHS = ("2026-10", "2026-11", "2026-12")
BANKS = ("HSBKKZKX", "KCJBKZKX")

actions = st.lists(st.one_of(
    st.tuples(st.just("release"), st.sampled_from(MONTHS)),
    st.tuples(st.just("report"), st.integers(0, 40), st.sampled_from(["settled", "failed"]), st.booleans(),
              st.booleans()),
    st.tuples(st.just("reissue"), st.integers(0, 40), st.sampled_from(BANKS)),
    st.tuples(st.just("terminate"), st.integers(0, 1), st.sampled_from([date(2026, 10, 14), date(2026, 11, 30)])),
), max_size=60)


class Ledger:
    """Payments' state held the way the service holds it, moved only by the domain's functions."""

    def __init__(self) -> None:
        self.next = 0
        self.plans: dict[uuid.UUID, domain.Payment] = {}
        self.orders: dict[uuid.UUID, domain.PaymentOrder] = {}
        self.terminated: dict[uuid.UUID, date] = {}
        self.paid_after_termination: list[uuid.UUID] = []
        for family, (bank, child) in enumerate([("HSBKKZKX", 6488), ("KCJBKZKX", 0)]):
            app = uuid.UUID(int=10_000 + family)
            for month in MONTHS:
                plan = domain.Payment(id=self.new_id(), application_id=app, decision_id=app, month=month,
                                      tsa=20000 + family, child_supplement=child, total=20000 + family + child,
                                      bank_iban="KZ86125KZT5004100100", bank_code=bank, status=domain.PLANNED)
                self.plans[plan.id] = plan

    def new_id(self) -> uuid.UUID:
        self.next += 1
        return uuid.UUID(int=self.next)

    def pick(self, index: int) -> domain.PaymentOrder | None:
        orders = sorted(self.orders.values(), key=lambda o: o.id)
        return orders[index % len(orders)] if orders else None

    def release(self, month: str) -> None:
        run = domain.release(month, planned=list(self.plans.values()),
                             ordered=frozenset((o.payment_id, o.component) for o in self.orders.values()),
                             pending=[o for o in self.orders.values() if o.status == domain.PENDING],
                             terminations=dict(self.terminated), new_id=self.new_id)
        for batch in run.batches:
            assert batch.checksum == domain.batch_checksum(o for o in run.orders if o.batch_id == batch.id)
        self.orders.update({o.id: o for o in run.orders})
        self.plans.update({p.id: p for p in run.payments})

    def report(self, index: int, status: str, right_amount: bool, right_bank: bool) -> None:
        order = self.pick(index)
        if order is None:
            return  # an unknown order: the service refuses it before the domain is asked
        try:
            recorded, _ = domain.record_bank_status(
                order, bank_code=order.bank_code if right_bank else "XXXXKZKX", status=status,
                amount=order.amount if right_amount else order.amount + 1, reason="account_closed")
        except domain.PaymentRefused:
            return
        if recorded.status == domain.SETTLED and domain.after_termination(
                recorded.month, self.terminated.get(recorded.application_id)):
            self.paid_after_termination.append(recorded.id)
        self.orders[recorded.id] = recorded

    def reissue(self, index: int, bank: str) -> None:
        order = self.pick(index)
        if order is None:
            return
        try:
            new = domain.reissue(order, iban="KZ0000000000000000XX", bank_code=bank,
                                 reissued_already=any(o.reissue_of == order.id for o in self.orders.values()),
                                 terminated_on=self.terminated.get(order.application_id), new_id=self.new_id)
        except domain.PaymentRefused:
            return
        self.orders[new.id] = new

    def terminate(self, family: int, on: date) -> None:
        app = uuid.UUID(int=10_000 + family)
        if app in self.terminated:
            return
        self.terminated[app] = on
        stop = domain.terminate(on, payments=[p for p in self.plans.values() if p.application_id == app],
                                orders=[o for o in self.orders.values() if o.application_id == app])
        self.orders.update({o.id: o for o in stop.orders})
        self.plans.update({p.id: p for p in stop.payments})

    def check(self) -> None:
        settled = Counter((o.payment_id, o.component) for o in self.orders.values() if o.status == domain.SETTLED)
        assert all(n == 1 for n in settled.values()), settled
        standing = Counter((o.payment_id, o.component) for o in self.orders.values() if o.status != domain.FAILED)
        assert all(n == 1 for n in standing.values()), standing
        for plan in self.plans.values():
            paid = sum(o.amount for o in self.orders.values() if o.payment_id == plan.id and o.status == domain.SETTLED)
            assert paid <= plan.total
        assert self.paid_after_termination == []
        assert domain.family_mismatches(self.plans.values(), self.orders.values()) == []


@settings(max_examples=300, deadline=None)
@given(actions, st.randoms(use_true_random=False))
def test_nothing_is_ever_paid_twice_nor_more_than_the_decision(steps, rng):
    ledger = Ledger()
    for action, *args in steps:
        getattr(ledger, action)(*args)
        ledger.check()
    # Then every bank reports everything released, in any order, twice: still exactly once.
    released = [o for o in ledger.orders.values() if o.status == domain.RELEASED]
    reports = [(o.id, s) for o in released for s in ("settled", "settled")]
    rng.shuffle(reports)
    ids = sorted(ledger.orders)
    for order_id, status in reports:
        ledger.report(ids.index(order_id), status, True, True)
        ledger.check()


def test_once_everything_is_settled_each_month_is_paid_its_decided_total():
    ledger = Ledger()
    for month in MONTHS:
        ledger.release(month)
    first = sorted(ledger.orders)[0]
    ledger.report(0, "failed", True, True)
    ledger.reissue(0, "KCJBKZKX")
    ledger.release("2026-12")
    for index in range(len(ledger.orders)):
        ledger.report(index, "settled", True, True)
    ledger.check()
    for plan in ledger.plans.values():
        assert sum(o.amount for o in ledger.orders.values()
                   if o.payment_id == plan.id and o.status == domain.SETTLED) == plan.total
    assert ledger.orders[first].status == domain.FAILED
