"""Payment use cases: assign on approval, plan on signing, stop on termination, release a month,
show, record a bank's report, re-issue, reconcile. Each loads, lets the domain decide, saves and
emits."""

from __future__ import annotations

from datetime import date, datetime
from dataclasses import replace
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.payments import domain, repository
from services.payments.schemas import (
    AnomalyOut,
    BankOrderOut,
    BankReconciliation,
    BatchOut,
    BatchSummary,
    Figure,
    MismatchOut,
    OrderOut,
    PaymentOut,
    ReconciliationOut,
    ReleaseOut,
)
from shared.access import FamilyAccess, family_access, note_data_subjects
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, QamqorError, field_error
from shared.events import Envelope
from shared.events.contracts import (
    ApplicationWithdrawn,
    ContractSigned,
    ContractTerminated,
    EligibilityDecided,
    EligibilityExtended,
)
from shared.identity import Caller
from shared.ids import uuid7
from shared.consumer import handles_batches
from shared.outbox import emit, emit_many

SOURCE = "payments"


# ---- events ------------------------------------------------------------------------------------

async def assign_on_approval(session: AsyncSession, envelope: Envelope) -> None:
    """A decision: an assignment. A signature or a termination that came first was parked and is
    applied now, so events of one application may arrive in any order."""
    decision: EligibilityDecided = envelope.payload()  # type: ignore[assignment]
    await repository.lock_application(session, decision.application.application_id)
    existing = await repository.assignment_for_decision(session, decision.decision_id)
    already = await repository.scheduled_months(session, decision.application.application_id)
    facts = await repository.contract_facts(session, decision.application.application_id)
    step = domain.assign(existing, decision, already_scheduled=already, new_id=uuid7,
                         contract_signed=facts is not None and facts.signed_decision_id == decision.decision_id,
                         terminated_on=facts.terminated_on if facts is not None else None)
    if step is None:
        return
    await repository.add_assignment(session, step.assignment)
    await _record(session, step, cause=envelope)


async def extend_on_extensions(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """`extend_on_extension` for a batch of extensions (a reassessment run sends hundreds of
    thousands at once): the same steps for all of them together, a statement each — lock the
    applications, fetch their assignments FOR UPDATE and their planned months, save, plan,
    announce. An application extended twice in one batch has its later extension handled after
    the earlier one is saved, as one by one."""
    pending = [(envelope, extension) for envelope in envelopes
               if (extension := envelope.payload()).eligible]  # type: ignore[attr-defined]
    while pending:
        seen: set[UUID] = set()
        now, later = [], []
        for item in pending:
            application_id = item[1].application_id
            (later if application_id in seen else now).append(item)
            seen.add(application_id)
        await _extend_together(session, now)
        pending = later


async def _extend_together(session: AsyncSession, extensions: list[tuple[Envelope, EligibilityExtended]]) -> None:
    """Extensions of distinct applications."""
    ids = [extension.application_id for _, extension in extensions]
    await repository.lock_applications(session, ids)
    assignments = await repository.assignments_for_applications(session, ids)
    scheduled = await repository.scheduled_months_of(session, ids)
    steps: list[tuple[Envelope, domain.Scheduling]] = []
    for envelope, extension in extensions:
        assignment = assignments.get(extension.application_id)
        if assignment is None:
            continue
        step = domain.extend(assignment, extension, new_id=uuid7,
                             already_scheduled=scheduled.get(extension.application_id, frozenset()))
        if step is not None:
            steps.append((envelope, step))
    await repository.save_assignments(session, [step.assignment for _, step in steps])
    await repository.add_payments(session, [p for _, step in steps for p in step.payments])
    await emit_many(session, [(step.event, str(step.assignment.application_id), envelope)
                              for envelope, step in steps if step.event is not None], source=SOURCE)


@handles_batches(extend_on_extensions)
async def extend_on_extension(session: AsyncSession, envelope: Envelope) -> None:
    """A reassessment run extended the family (issue 12): the new quarter's months are planned
    under the extension's decision, once each (`domain.extend`). Its application's assignment is
    on the same topic and key as the extension, so it is always here first; a refusal plans
    nothing (the assignment ends with the quarter it covers)."""
    await extend_on_extensions(session, [envelope])  # one extension: the batch form's steps


async def schedule_on_contract_signed(session: AsyncSession, envelope: Envelope) -> None:
    signed: ContractSigned = envelope.payload()  # type: ignore[assignment]
    await repository.lock_application(session, signed.application_id)
    assignment = await repository.assignment_for_decision(session, signed.decision_id, for_update=True)
    if assignment is None:
        # The decision has not reached payments yet (it travels on another topic): the signature
        # is parked and applied when the decision arrives.
        await repository.park_signature(session, signed.application_id, signed.decision_id)
        return
    already = await repository.scheduled_months(session, assignment.application_id)
    step = domain.schedule_after_signing(assignment, already_scheduled=already, new_id=uuid7)
    if step is None:
        return
    await repository.save_assignment(session, step.assignment)
    await _record(session, step, cause=envelope)


async def stop_on_termination(session: AsyncSession, envelope: Envelope) -> None:
    """The contract was terminated: nothing is paid for the months after the termination month
    (the month itself is). Before the decision arrived, the termination is parked."""
    terminated: ContractTerminated = envelope.payload()  # type: ignore[assignment]
    await _stop(session, terminated.application_id, terminated.terminated_on)


# A withdrawal stops every month: as a stop dated before any month Qamqor pays.
WITHDRAWN_BEFORE_ANY_MONTH = date(2000, 1, 1)


async def stop_on_withdrawal(session: AsyncSession, envelope: Envelope) -> None:
    """The family withdrew its application before any payment: nothing is paid for any month
    (a withdrawal that crossed the decision on the way is parked, then applied to it)."""
    withdrawn: ApplicationWithdrawn = envelope.payload()  # type: ignore[assignment]
    await _stop(session, withdrawn.application_id, WITHDRAWN_BEFORE_ANY_MONTH)


async def _stop(session: AsyncSession, application_id: UUID, stop_after: date) -> None:
    """Nothing is paid for the months after the month of `stop_after`."""
    # Not while a release runs: a release that had read a month as planned would otherwise order
    # it after the stop cancelled it.
    await repository.take_release_lock(session)
    await repository.lock_application(session, application_id)
    assignment = await repository.assignment_for_application(session, application_id, for_update=True)
    if assignment is None:
        await repository.park_termination(session, application_id, stop_after)
        return
    if assignment.terminated_on is not None and assignment.terminated_on <= stop_after:
        return  # delivered again, or a later date than the one already stopping payments
    await repository.save_assignment(session, replace(assignment, terminated_on=stop_after))
    payments = await repository.payments_of(session, assignment.application_id)
    orders = await repository.orders_of_application(session, assignment.application_id, for_update=True)
    stop = domain.terminate(stop_after, payments=payments, orders=orders)
    await repository.upsert_orders(session, stop.orders)
    await repository.save_payments(session, stop.payments)
    await repository.add_anomalies(session, stop.anomalies)


async def _record(session: AsyncSession, step: domain.Scheduling, *, cause: Envelope) -> None:
    await repository.add_payments(session, step.payments)
    if step.event is not None:
        await emit(session, step.event, source=SOURCE, key=str(step.assignment.application_id), cause=cause)


# ---- the monthly release -------------------------------------------------------------------------

async def release_month(*, session: AsyncSession, month: str) -> ReleaseOut:
    """The payment run of `month` (an administrator's or a scheduled one): one order per planned
    component, re-issues waiting go along, one batch per bank. Running it again makes nothing new."""
    await repository.take_release_lock(session)
    planned = await repository.payments_of_month(session, month, domain.PLANNED)
    ordered = await repository.ordered_components(session, (p.id for p in planned))
    pending = await repository.pending_orders(session, month)
    terminations = await repository.terminations(session, [p.application_id for p in planned]
                                                 + [o.application_id for o in pending])
    run = domain.release(month, planned=planned, ordered=ordered, pending=pending, terminations=terminations,
                         new_id=uuid7)
    await repository.add_batches(session, run.batches)
    await repository.upsert_orders(session, run.orders)
    await _refresh_months(session, {o.payment_id for o in run.orders} | {p.id for p in run.payments})
    reissues = sum(1 for o in run.orders if o.reissue_of is not None)
    return ReleaseOut(month=month, orders_created=len(run.orders) - reissues, reissues_released=reissues,
                      batches=[BatchSummary(id=b.id, bank_code=b.bank_code, month=b.month, count=b.count,
                                            total=b.total, checksum=b.checksum) for b in run.batches])


async def _refresh_months(session: AsyncSession, payment_ids: set[UUID]) -> None:
    """A plan month shows its orders' state (domain.month_status)."""
    if not payment_ids:
        return
    orders = await repository.orders_of_payments(session, payment_ids)
    changed = []
    for payment_id in payment_ids:
        plan = await repository.get_payment(session, payment_id)
        if plan is None:
            continue
        if plan.status == domain.PLANNED and any(o.payment_id == payment_id for o in orders):
            plan = replace(plan, status=domain.RELEASED)
        status, reason = domain.month_status(plan, [o for o in orders if o.payment_id == payment_id])
        changed.append(replace(plan, status=status, status_reason=reason))
    await repository.save_payments(session, changed)


def _payment_readers(caller: Caller) -> FamilyAccess:
    """A citizen reads their families' payments, a case worker their regions'; ops reads only
    masked lists and statistics, and a payment is a family's benefit. Banks read their orders."""
    return family_access(caller, unmaskable="Payments are a family's assistance")


async def _with_orders(session: AsyncSession, payments: list[domain.Payment]) -> list[PaymentOut]:
    orders = await repository.orders_of_payments(session, (p.id for p in payments))
    return [PaymentOut.model_validate(p).model_copy(update={"orders": [
        OrderOut.model_validate(o) for o in orders if o.payment_id == p.id]}) for p in payments]


async def list_payments(*, session: AsyncSession, caller: Caller, application_id: UUID) -> list[PaymentOut]:
    access = _payment_readers(caller)
    assignment = await repository.assignment_for_application(session, application_id)
    # Nothing listed for a family the caller may not see: as for an application with no payments.
    if assignment is None or not access.may_see(assignment.member_iins, assignment.region_kato):
        return []
    payments = await repository.payments_of(session, application_id)
    if payments:
        note_data_subjects(assignment.member_iins)
    return await _with_orders(session, payments)


async def get_payment(*, session: AsyncSession, caller: Caller, payment_id: UUID) -> PaymentOut:
    access = _payment_readers(caller)
    payment = await repository.get_payment(session, payment_id)
    assignment = None if payment is None else await repository.assignment_for_decision(session, payment.decision_id)
    # A payment of a family the caller may not see answers as if there were none.
    if payment is None or assignment is None or not access.may_see(assignment.member_iins, assignment.region_kato):
        raise NotFound(f"No payment {payment_id}.")
    note_data_subjects(assignment.member_iins)
    return (await _with_orders(session, [payment]))[0]


async def reissue(*, session: AsyncSession, caller: Caller, order_id: UUID, iban: str, bank_code: str) -> OrderOut:
    """A failed order paid again to the corrected account, in the next release of its month (or
    any later one). The portal acts for a member of the family, a case worker for its region."""
    access = family_access(caller, unmaskable="A re-issue changes a family's payment")
    order = await repository.get_order(session, order_id, for_update=True)
    assignment = None if order is None else await repository.assignment_for_application(session, order.application_id)
    if order is None or assignment is None or not access.may_see(assignment.member_iins, assignment.region_kato):
        raise NotFound(f"No payment order {order_id}.")
    try:
        new = domain.reissue(order, iban=iban, bank_code=bank_code,
                             reissued_already=await repository.is_reissued(session, order.id),
                             terminated_on=assignment.terminated_on, new_id=uuid7)
    except domain.PaymentRefused as refusal:
        raise Conflict(str(refusal), slug=refusal.slug) from None
    await repository.upsert_orders(session, [new])
    await _refresh_months(session, {new.payment_id})
    note_data_subjects(assignment.member_iins)
    return OrderOut.model_validate(new)


# ---- banks -------------------------------------------------------------------------------------

def _check_bank(caller: Caller, bank_code: str) -> None:
    if caller.bank_code != bank_code:
        raise Forbidden("A bank may act only under its own bank code.")


def _batch_out(row, orders: list[domain.PaymentOrder]) -> BatchOut:  # noqa: ANN001 - a PaymentBatch row
    return BatchOut(id=row.id, bank_code=row.bank_code, month=row.month, count=row.count, total=row.total,
                    checksum=row.checksum, released_at=row.released_at, acknowledged_at=row.acknowledged_at,
                    orders=[BankOrderOut.model_validate(o) for o in orders])


async def payment_orders(*, session: AsyncSession, caller: Caller, bank_code: str, acknowledged: bool,
                         limit: int) -> list[BatchOut]:
    """The bank's released batches (not yet acknowledged unless asked), each with every order it
    was released with; a recalled order shows as `recalled` and may no longer be settled."""
    _check_bank(caller, bank_code)
    return [_batch_out(row, orders) for row, orders in
            await repository.batches_for_bank(session, bank_code, acknowledged=acknowledged, limit=limit)]


async def acknowledge_batch(*, session: AsyncSession, caller: Caller, bank_code: str, batch_id: UUID,
                            checksum: str, now: datetime) -> BatchOut:
    _check_bank(caller, bank_code)
    row = await repository.get_batch(session, batch_id, for_update=True)
    if row is None or row.bank_code != bank_code:
        raise NotFound(f"No batch {batch_id} for bank {bank_code}.")
    if checksum != row.checksum:
        raise Conflict(f"Batch {batch_id} has checksum {row.checksum}, not the one sent: pull it again.",
                       slug="checksum-mismatch")
    if row.acknowledged_at is None:
        row.acknowledged_at = now
        await session.flush()
    return _batch_out(row, await repository.orders_of_batch(session, batch_id))


async def record_bank_status(*, session: AsyncSession, anomalies: async_sessionmaker, caller: Caller,
                             bank_code: str, order_id: UUID, status: str, amount, reason: str | None) -> OrderOut:  # noqa: ANN001
    """A bank's report of one order. A refused report is recorded as an anomaly in a transaction
    of its own (the request's own rolls back with the refusal) and listed in reconciliation."""
    _check_bank(caller, bank_code)
    if status == domain.SETTLED and amount is None:
        raise InvalidInput("A settlement names the amount paid.", errors=[field_error("amount", "required when the status is settled")])
    if status == domain.FAILED and reason is None:
        raise InvalidInput("A failure names its reason.", errors=[field_error("reason", "required when the status is failed")])
    order = await repository.get_order(session, order_id, for_update=True)
    whole = None if amount is None else (int(amount) if amount == int(amount) else -1)
    try:
        if order is None:
            raise domain.PaymentRefused(f"No payment order {order_id} for bank {bank_code}.", status=404,
                                        slug="not-found", anomaly=domain.UNKNOWN_ORDER)
        recorded, event = domain.record_bank_status(order, bank_code=bank_code, status=status, amount=whole,
                                                    reason=reason)
    except domain.PaymentRefused as refusal:
        if refusal.anomaly is not None:
            await _flag(anomalies, domain.Anomaly(
                refusal.anomaly, bank_code, order.month if order is not None else None, order_id,
                None if amount is None else int(amount),
                f"{status} report refused: {refusal}"))
        raise QamqorError(str(refusal), status=refusal.status, slug=refusal.slug,
                          title="Payment report refused") from None
    if event is not None:
        await repository.upsert_orders(session, [recorded])
        await _refresh_months(session, {recorded.payment_id})
        await emit(session, event, source=SOURCE, key=str(recorded.application_id),
                   correlation_id=str(recorded.application_id))
    return OrderOut.model_validate(recorded)


async def _flag(sessionmaker: async_sessionmaker, anomaly: domain.Anomaly) -> None:
    async with sessionmaker() as session, session.begin():
        await repository.add_anomalies(session, [anomaly])


# ---- reconciliation ----------------------------------------------------------------------------

async def reconciliation(*, session: AsyncSession, month: str, bank_code: str | None) -> ReconciliationOut:
    orders = await repository.orders_of_month(session, month, bank_code)
    plans = await repository.plans_of_month(session, month, bank_code)
    # A family's month is judged on all its orders, whichever bank holds them.
    all_orders = await repository.orders_of_payments(session, (p.id for p in plans))
    cancelled = [p for p in plans if p.status == domain.CANCELLED
                 and not any(o.payment_id == p.id for o in all_orders)]
    ledgers = domain.reconcile(orders, cancelled)
    banks = []
    for code in sorted(ledgers):
        ledger = ledgers[code]
        figures = {line: Figure(count=ledger.counts[line], tenge=ledger.tenge[line])
                   for line in domain.RECONCILIATION_LINES}
        unexplained = ledger.tenge["ordered"] - sum(ledger.tenge[x] for x in ("settled", "failed", "recalled",
                                                                                "outstanding"))
        banks.append(BankReconciliation(bank_code=code, **figures, unexplained_tenge=unexplained))
    mismatches = domain.family_mismatches(plans, all_orders)
    due = [p for p in plans if p.status != domain.CANCELLED]
    return ReconciliationOut(
        month=month, bank_code=bank_code, banks=banks,
        anomalies=[AnomalyOut.model_validate(a) for a in await repository.anomalies_of_month(session, month,
                                                                                              bank_code)],
        mismatches=[MismatchOut(**m) for m in mismatches],
        families_due=len(due), families_fully_paid=sum(1 for p in due if p.status == domain.SETTLED))
