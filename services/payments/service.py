"""Payment use cases: assign on approval, schedule on signing, show, record a bank's report.
Each loads, lets the domain decide, saves and emits."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import domain, repository
from services.payments.schemas import PaymentOrderOut, PaymentOut
from shared.access import FamilyAccess, family_access, note_data_subjects
from shared.errors import Conflict, Forbidden, NotFound
from shared.events import Envelope
from shared.events.contracts import ContractSigned, EligibilityDecided
from shared.identity import Caller
from shared.ids import uuid7
from shared.outbox import emit

SOURCE = "payments"


async def assign_on_approval(session: AsyncSession, envelope: Envelope) -> None:
    decision: EligibilityDecided = envelope.payload()  # type: ignore[assignment]
    existing = await repository.assignment_for_decision(session, decision.decision_id)
    already = await repository.scheduled_months(session, decision.application.application_id)
    step = domain.assign(existing, decision, already_scheduled=already, new_id=uuid7)
    if step is None:
        return
    await repository.add_assignment(session, step.assignment)
    await _record(session, step, cause=envelope)


async def schedule_on_contract_signed(session: AsyncSession, envelope: Envelope) -> None:
    signed: ContractSigned = envelope.payload()  # type: ignore[assignment]
    assignment = await repository.assignment_for_decision(session, signed.decision_id, for_update=True)
    if assignment is None:
        # The decision has not reached payments yet: fail so the runner retries; the decision
        # event is on another topic and will arrive.
        raise LookupError(f"no assignment yet for decision {signed.decision_id}")
    already = await repository.scheduled_months(session, assignment.application_id)
    step = domain.schedule_after_signing(assignment, already_scheduled=already, new_id=uuid7)
    if step is None:
        return
    await repository.save_assignment(session, step.assignment)
    await _record(session, step, cause=envelope)


async def _record(session: AsyncSession, step: domain.Scheduling, *, cause: Envelope) -> None:
    await repository.add_payments(session, step.payments)
    if step.event is not None:
        await emit(session, step.event, source=SOURCE, key=str(step.assignment.application_id), cause=cause)


def _payment_readers(caller: Caller) -> FamilyAccess:
    """A citizen reads their families' payments, a case worker their regions'; ops reads only
    masked lists and statistics, and a payment is a family's benefit. Banks read their orders."""
    return family_access(caller, unmaskable="Payments are a family's assistance")


async def list_payments(*, session: AsyncSession, caller: Caller, application_id: UUID) -> list[PaymentOut]:
    access = _payment_readers(caller)
    assignment = await repository.assignment_for_application(session, application_id)
    # Nothing listed for a family the caller may not see: as for an application with no payments.
    if assignment is None or not access.may_see(assignment.member_iins, assignment.region_kato):
        return []
    payments = await repository.payments_of(session, application_id)
    if payments:
        note_data_subjects(assignment.member_iins)
    return [PaymentOut.model_validate(p) for p in payments]


async def get_payment(*, session: AsyncSession, caller: Caller, payment_id: UUID) -> PaymentOut:
    access = _payment_readers(caller)
    payment = await repository.get_payment(session, payment_id)
    assignment = None if payment is None else await repository.assignment_for_decision(session, payment.decision_id)
    # A payment of a family the caller may not see answers as if there were none.
    if assignment is None or not access.may_see(assignment.member_iins, assignment.region_kato):
        raise NotFound(f"No payment {payment_id}.")
    note_data_subjects(assignment.member_iins)
    return PaymentOut.model_validate(payment)


def _check_bank(caller: Caller, bank_code: str) -> None:
    if caller.bank_code != bank_code:
        raise Forbidden("A bank may act only under its own bank code.")


async def payment_orders(*, session: AsyncSession, caller: Caller, bank_code: str, limit: int) -> list[PaymentOrderOut]:
    _check_bank(caller, bank_code)
    orders = await repository.orders_for_bank(session, bank_code, domain.PAYMENT_SCHEDULED, limit)
    return [PaymentOrderOut.model_validate(p) for p in orders]


async def record_bank_status(*, session: AsyncSession, caller: Caller, bank_code: str, payment_id: UUID,
                             status: str, reason: str | None) -> PaymentOut:
    _check_bank(caller, bank_code)
    payment = await repository.get_payment(session, payment_id, for_update=True)
    if payment is None or payment.bank_code != bank_code:
        raise NotFound(f"No payment {payment_id} for bank {bank_code}.")
    try:
        recorded, event = domain.record_bank_status(payment, status, reason)
    except domain.PaymentStatusFinal as refusal:
        raise Conflict(str(refusal), slug="payment-status-final") from None
    if event is not None:
        await repository.save_payment(session, recorded)
        await emit(session, event, source=SOURCE, key=str(recorded.application_id),
                   correlation_id=str(recorded.application_id))
    return PaymentOut.model_validate(recorded)
