"""Payments: a quarterly assignment paid month by month, every month exactly once. Pure Python:
the assignment's and each payment's states and the rules that move them; the service loads,
calls these, saves and emits."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from uuid import UUID

from shared.events.contracts import (
    EligibilityDecided,
    MonthlyAmount,
    PaymentFailed,
    PaymentScheduled,
    PaymentSettled,
    ScheduledPayment,
)

# assignment statuses
AWAITING_CONTRACT = "awaiting_contract"
SCHEDULED = "scheduled"

# payment statuses
PAYMENT_SCHEDULED = "scheduled"
SETTLED = "settled"
FAILED = "failed"


class PaymentStatusFinal(Exception):
    """The bank reported a status the payment can no longer take."""


@dataclass(frozen=True, slots=True)
class Assignment:
    """An approved decision's amounts, waiting for a contract or already scheduled."""

    decision_id: UUID
    application_id: UUID
    kind: str
    status: str
    period_quarter: str
    monthly: tuple[MonthlyAmount, ...]
    region_kato: str
    settlement: str
    bank_iban: str
    bank_code: str
    # The family, from the decision: its members read its payments. Empty for assignments made
    # before the family was kept (only case workers of the region see those).
    member_iins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Payment:
    id: UUID
    application_id: UUID
    decision_id: UUID
    month: str  # YYYY-MM
    tsa: int
    child_supplement: int
    total: int
    bank_iban: str
    bank_code: str
    status: str
    status_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Scheduling:
    """One step of an assignment: the assignment as it now stands, the payments it creates and
    their announcement (None when it creates none)."""

    assignment: Assignment
    payments: tuple[Payment, ...] = ()
    event: PaymentScheduled | None = None


def initial_assignment_status(kind: str) -> str:
    """Conditional assistance needs a signed social contract before the first payment (rules.md 7)."""
    return AWAITING_CONTRACT if kind == "conditional" else SCHEDULED


def assign(existing: Assignment | None, decision: EligibilityDecided, *, already_scheduled: Collection[str],
           new_id: Callable[[], UUID]) -> Scheduling | None:
    """An approval becomes an assignment, scheduled at once unless it waits for the contract.
    None for a refusal, or when the decision was delivered again (its assignment exists)."""
    if not decision.eligible or existing is not None:
        return None
    context = decision.application
    assignment = Assignment(
        decision_id=decision.decision_id,
        application_id=context.application_id,
        kind=decision.kind,
        status=initial_assignment_status(decision.kind),
        period_quarter=decision.period_quarter,
        monthly=tuple(decision.monthly),
        region_kato=context.region_kato,
        settlement=context.settlement,
        bank_iban=context.bank_account.iban,
        bank_code=context.bank_account.bank_code,
        member_iins=tuple(m.iin for m in decision.members),
    )
    if assignment.status == AWAITING_CONTRACT:
        return Scheduling(assignment)
    return _schedule(assignment, already_scheduled, new_id)


def schedule_after_signing(assignment: Assignment, *, already_scheduled: Collection[str],
                           new_id: Callable[[], UUID]) -> Scheduling | None:
    """The family signed its social contract: the waiting assignment is scheduled. None when it
    was not waiting (the signature was delivered again, or the assistance is unconditional)."""
    if assignment.status != AWAITING_CONTRACT:
        return None
    return _schedule(replace(assignment, status=SCHEDULED), already_scheduled, new_id)


def _schedule(assignment: Assignment, already_scheduled: Collection[str], new_id: Callable[[], UUID]) -> Scheduling:
    """Every month with something to pay gets one payment, and a month already scheduled for the
    application never gets a second."""
    payments = tuple(
        Payment(id=new_id(), application_id=assignment.application_id, decision_id=assignment.decision_id,
                month=m.month, tsa=m.tsa, child_supplement=m.child_supplement, total=m.total,
                bank_iban=assignment.bank_iban, bank_code=assignment.bank_code, status=PAYMENT_SCHEDULED)
        for m in assignment.monthly if m.total > 0 and m.month not in already_scheduled
    )
    if not payments:
        return Scheduling(assignment)
    return Scheduling(assignment, payments, PaymentScheduled(
        application_id=assignment.application_id,
        decision_id=assignment.decision_id,
        region_kato=assignment.region_kato,
        settlement=assignment.settlement,
        bank_code=assignment.bank_code,
        payments=[ScheduledPayment(payment_id=p.id, month=p.month, tsa=p.tsa, child_supplement=p.child_supplement,
                                   total=p.total) for p in payments],
        total=sum(p.total for p in payments),
    ))


def record_bank_status(payment: Payment, status: str,
                       reason: str | None) -> tuple[Payment, PaymentSettled | PaymentFailed | None]:
    """The bank reports a scheduled payment settled or failed, once: the same report again is a
    retried callback (no change, no event); a settled payment never turns failed, nor the reverse."""
    if payment.status == status:
        return payment, None
    if not (payment.status == PAYMENT_SCHEDULED and status in (SETTLED, FAILED)):
        raise PaymentStatusFinal(f"Payment is already {payment.status}; it cannot become {status}.")
    recorded = replace(payment, status=status, status_reason=reason)
    common = dict(payment_id=payment.id, application_id=payment.application_id, month=payment.month,
                  total=payment.total, bank_code=payment.bank_code)
    if status == SETTLED:
        return recorded, PaymentSettled(**common)
    return recorded, PaymentFailed(**common, reason=reason or "unspecified")
