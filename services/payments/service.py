"""Payment use cases: assign on approval, schedule (at once, or when the contract is signed),
record bank statuses."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import domain, repository
from services.payments.models import Assignment, Payment
from shared.errors import Conflict, Forbidden, NotFound
from shared.events import Envelope
from shared.events.contracts import (
    ContractSigned,
    EligibilityDecided,
    PaymentFailed,
    PaymentScheduled,
    PaymentSettled,
    ScheduledPayment,
)
from shared.identity import Caller
from shared.ids import uuid7
from shared.outbox import emit

SOURCE = "payments"


def to_out(payment: Payment) -> dict[str, Any]:
    return {
        "id": str(payment.id),
        "application_id": str(payment.application_id),
        "decision_id": str(payment.decision_id),
        "month": payment.month,
        "tsa": payment.tsa,
        "child_supplement": payment.child_supplement,
        "total": payment.total,
        "bank_code": payment.bank_code,
        "status": payment.status,
        "status_reason": payment.status_reason,
    }


async def assign_on_approval(session: AsyncSession, envelope: Envelope) -> None:
    event: EligibilityDecided = envelope.payload()  # type: ignore[assignment]
    if not event.eligible:
        return
    if await repository.assignment_for_decision(session, event.decision_id) is not None:
        return
    assignment = Assignment(
        decision_id=event.decision_id,
        application_id=event.application.application_id,
        kind=event.kind,
        status=domain.initial_assignment_status(event.kind),
        period_quarter=event.period_quarter,
        monthly=[m.model_dump(mode="json") for m in event.monthly],
        region_kato=event.application.region_kato,
        settlement=event.application.settlement,
        bank_iban=event.application.bank_account.iban,
        bank_code=event.application.bank_account.bank_code,
    )
    session.add(assignment)
    await session.flush()
    if assignment.status == domain.SCHEDULED:
        await _schedule(session, envelope, assignment)


async def schedule_on_contract_signed(session: AsyncSession, envelope: Envelope) -> None:
    event: ContractSigned = envelope.payload()  # type: ignore[assignment]
    assignment = await repository.assignment_for_decision(session, event.decision_id, for_update=True)
    if assignment is None:
        # The decision has not reached payments yet: fail so the runner retries; the decision
        # event is on another topic and will arrive.
        raise LookupError(f"no assignment yet for decision {event.decision_id}")
    if assignment.status != domain.AWAITING_CONTRACT:
        return
    assignment.status = domain.SCHEDULED
    await _schedule(session, envelope, assignment)


async def _schedule(session: AsyncSession, cause: Envelope, assignment: Assignment) -> None:
    rows = [
        {
            "id": uuid7(), "application_id": assignment.application_id, "decision_id": assignment.decision_id,
            "month": m["month"], "tsa": m["tsa"], "child_supplement": m["child_supplement"], "total": m["total"],
            "bank_iban": assignment.bank_iban, "bank_code": assignment.bank_code,
            "status": domain.PAYMENT_SCHEDULED,
        }
        for m in assignment.monthly if m["total"] > 0
    ]
    if not rows:
        return
    created = (await session.execute(
        insert(Payment).values(rows).on_conflict_do_nothing(constraint="uq_payment_application_month")
        .returning(Payment.id, Payment.month, Payment.tsa, Payment.child_supplement, Payment.total)
    )).all()
    if not created:
        return
    await emit(session, PaymentScheduled(
        application_id=assignment.application_id,
        decision_id=assignment.decision_id,
        region_kato=assignment.region_kato,
        settlement=assignment.settlement,
        bank_code=assignment.bank_code,
        payments=[ScheduledPayment(payment_id=r.id, month=r.month, tsa=r.tsa,
                                   child_supplement=r.child_supplement, total=r.total) for r in created],
        total=sum(r.total for r in created),
    ), source=SOURCE, key=str(assignment.application_id), cause=cause)


async def list_payments(*, session: AsyncSession, application_id: UUID) -> list[dict[str, Any]]:
    return [to_out(p) for p in await repository.payments_of(session, application_id)]


async def get_payment(*, session: AsyncSession, payment_id: UUID) -> dict[str, Any]:
    payment = await repository.get_payment(session, payment_id)
    if payment is None:
        raise NotFound(f"No payment {payment_id}.")
    return to_out(payment)


def _check_bank(caller: Caller, bank_code: str) -> None:
    if caller.bank_code != bank_code:
        raise Forbidden("A bank may act only under its own bank code.")


async def payment_orders(*, session: AsyncSession, caller: Caller, bank_code: str, limit: int) -> list[dict[str, Any]]:
    _check_bank(caller, bank_code)
    return [to_out(p) | {"iban": p.bank_iban}
            for p in await repository.orders_for_bank(session, bank_code, domain.PAYMENT_SCHEDULED, limit)]


async def record_bank_status(*, session: AsyncSession, caller: Caller, bank_code: str, payment_id: UUID,
                             status: str, reason: str | None) -> dict[str, Any]:
    _check_bank(caller, bank_code)
    payment = await repository.get_payment(session, payment_id, for_update=True)
    if payment is None or payment.bank_code != bank_code:
        raise NotFound(f"No payment {payment_id} for bank {bank_code}.")
    if payment.status == status:
        return to_out(payment)  # the bank retried its callback
    if not domain.can_record_bank_status(payment.status, status):
        raise Conflict(f"Payment is already {payment.status}; it cannot become {status}.", slug="payment-status-final")
    payment.status = status
    payment.status_reason = reason
    common = dict(payment_id=payment.id, application_id=payment.application_id, month=payment.month,
                  total=payment.total, bank_code=bank_code)
    event = PaymentSettled(**common) if status == domain.SETTLED else PaymentFailed(**common, reason=reason or "unspecified")
    await emit(session, event, source=SOURCE, key=str(payment.application_id), correlation_id=str(payment.application_id))
    return to_out(payment)
