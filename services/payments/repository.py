"""Every query of payments: assignments, plan months, orders, batches and anomalies in and out as
the domain's dataclasses."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from datetime import date

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import domain
from services.payments.models import Assignment as AssignmentRow
from services.payments.models import ContractFacts as ContractFactsRow
from services.payments.models import Payment as PaymentRow
from services.payments.models import PaymentAnomaly as AnomalyRow
from services.payments.models import PaymentBatch as BatchRow
from services.payments.models import PaymentOrder as OrderRow
from shared.events.contracts import MonthlyAmount

_ASSIGNMENT_COLUMNS = ("decision_id", "application_id", "kind", "status", "period_quarter", "region_kato",
                       "settlement", "bank_iban", "bank_code", "terminated_on")
_PAYMENT_COLUMNS = ("id", "application_id", "decision_id", "month", "tsa", "child_supplement", "total",
                    "bank_iban", "bank_code", "status", "status_reason")


def _assignment(row: AssignmentRow) -> domain.Assignment:
    return domain.Assignment(**{c: getattr(row, c) for c in _ASSIGNMENT_COLUMNS},
                             monthly=tuple(MonthlyAmount.model_validate(m) for m in row.monthly),
                             member_iins=tuple(row.member_iins))


def _assignment_values(assignment: domain.Assignment) -> dict:
    return {c: getattr(assignment, c) for c in _ASSIGNMENT_COLUMNS} | {
        "monthly": [m.model_dump(mode="json") for m in assignment.monthly],
        "member_iins": list(assignment.member_iins)}


def _payment(row: PaymentRow) -> domain.Payment:
    return domain.Payment(**{c: getattr(row, c) for c in _PAYMENT_COLUMNS})


async def assignment_for_decision(session: AsyncSession, decision_id: UUID, *,
                                  for_update: bool = False) -> domain.Assignment | None:
    query = select(AssignmentRow).where(AssignmentRow.decision_id == decision_id)
    if for_update:
        query = query.with_for_update()
    query = query.execution_options(populate_existing=True)  # see save_assignments
    row = (await session.execute(query)).scalar_one_or_none()
    return _assignment(row) if row else None


async def assignment_for_application(session: AsyncSession, application_id: UUID, *,
                                     for_update: bool = False) -> domain.Assignment | None:
    query = select(AssignmentRow).where(AssignmentRow.application_id == application_id)
    if for_update:
        query = query.with_for_update()
    query = query.execution_options(populate_existing=True)  # see save_assignments
    row = (await session.execute(query)).scalar_one_or_none()
    return _assignment(row) if row else None


async def add_assignment(session: AsyncSession, assignment: domain.Assignment) -> None:
    session.add(AssignmentRow(**_assignment_values(assignment)))
    await session.flush()


async def save_assignment(session: AsyncSession, assignment: domain.Assignment) -> None:
    await save_assignments(session, [assignment])


async def assignments_for_applications(session: AsyncSession,
                                       application_ids: Iterable[UUID]) -> dict[UUID, domain.Assignment]:
    """`assignment_for_application(for_update=True)` for many applications in one query (an
    application has one assignment), by application id."""
    rows = await session.execute(
        select(AssignmentRow).where(AssignmentRow.application_id.in_(list(application_ids)))
        .order_by(AssignmentRow.decision_id).with_for_update().execution_options(populate_existing=True))
    return {row.application_id: _assignment(row) for row in rows.scalars()}


async def save_assignments(session: AsyncSession, assignments: Iterable[domain.Assignment]) -> None:
    """`save_assignment` for many, as one UPDATE by primary key executed with every row (the
    rows loaded are not kept, so the session could not update them without loading each again).
    Every read of an assignment loads it afresh (`populate_existing`), so a row the session still
    holds is never read as it was before this update."""
    rows = [_assignment_values(a) for a in assignments]
    if rows:
        await session.execute(update(AssignmentRow), rows)


async def scheduled_months(session: AsyncSession, application_id: UUID) -> frozenset[str]:
    rows = await session.execute(select(PaymentRow.month).where(PaymentRow.application_id == application_id))
    return frozenset(rows.scalars())


async def scheduled_months_of(session: AsyncSession, application_ids: Iterable[UUID]) -> dict[UUID, frozenset[str]]:
    """`scheduled_months` for many applications in one query; an application with none is absent."""
    rows = await session.execute(select(PaymentRow.application_id, PaymentRow.month)
                                 .where(PaymentRow.application_id.in_(list(application_ids))))
    months: dict[UUID, set[str]] = {}
    for application_id, month in rows:
        months.setdefault(application_id, set()).add(month)
    return {application_id: frozenset(m) for application_id, m in months.items()}


# Built once and executed with the rows (one statement, every row): compiling a multi-row VALUES
# for each call cost more CPU than running it.
_INSERT_PAYMENT = insert(PaymentRow.__table__)


async def add_payments(session: AsyncSession, payments: Iterable[domain.Payment]) -> None:
    """The unique (application, month) constraint refuses a second payment for a month even if
    two deliveries race past the domain's check; the loser's transaction rolls back and retries."""
    rows = [{c: getattr(p, c) for c in _PAYMENT_COLUMNS} for p in payments]
    if rows:
        await session.execute(_INSERT_PAYMENT, rows)


async def payments_of(session: AsyncSession, application_id: UUID) -> list[domain.Payment]:
    rows = await session.execute(
        select(PaymentRow).where(PaymentRow.application_id == application_id).order_by(PaymentRow.month))
    return [_payment(row) for row in rows.scalars()]


async def get_payment(session: AsyncSession, payment_id: UUID, *, for_update: bool = False) -> domain.Payment | None:
    query = select(PaymentRow).where(PaymentRow.id == payment_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    return _payment(row) if row else None


async def save_payment(session: AsyncSession, payment: domain.Payment) -> None:
    row = await session.get_one(PaymentRow, payment.id)
    for name in _PAYMENT_COLUMNS:
        setattr(row, name, getattr(payment, name))
    await session.flush()


async def payments_of_month(session: AsyncSession, month: str, status: str) -> list[domain.Payment]:
    rows = await session.execute(select(PaymentRow).where(PaymentRow.month == month, PaymentRow.status == status)
                                 .order_by(PaymentRow.id))
    return [_payment(row) for row in rows.scalars()]


async def save_payments(session: AsyncSession, payments: Iterable[domain.Payment]) -> None:
    for payment in payments:
        await session.execute(update(PaymentRow).where(PaymentRow.id == payment.id).values(
            status=payment.status, status_reason=payment.status_reason))


# ---- orders ------------------------------------------------------------------------------------

_ORDER_COLUMNS = ("id", "payment_id", "application_id", "decision_id", "month", "component", "amount", "bank_iban",
                  "bank_code", "status", "batch_id", "reissue_of", "reason")


def _order(row: OrderRow) -> domain.PaymentOrder:
    return domain.PaymentOrder(**{c: getattr(row, c) for c in _ORDER_COLUMNS})


async def take_release_lock(session: AsyncSession) -> None:
    """One release at a time, and no termination during one: two runs of the same month never both
    order a component (the unique index would refuse the second anyway; the lock makes it wait
    instead of fail), and a month a termination cancels is never ordered by a run that read it
    as planned before."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('qamqor.payments.release'))"))


async def lock_application(session: AsyncSession, application_id: UUID) -> None:
    """One application's events take turns, whatever topic (lane) each comes from: a decision and
    a signature, termination or withdrawal handled at the same moment would each read that the
    other is not there yet, and the parked one would never be applied."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": _application_lock(application_id)})


def _application_lock(application_id: UUID) -> str:
    return f"qamqor.payments.application:{application_id}"


# In the order of the lock keys, so two transactions taking locks of overlapping sets never wait
# for each other in a circle.
_LOCK_APPLICATIONS = text("SELECT count(pg_advisory_xact_lock(k)) FROM ("
                          "SELECT DISTINCT hashtextextended(key, 0) AS k FROM unnest(CAST(:keys AS text[])) AS key "
                          "ORDER BY k) AS sorted")


async def lock_applications(session: AsyncSession, application_ids: Iterable[UUID]) -> None:
    """`lock_application` for many applications, in one statement."""
    keys = [_application_lock(a) for a in application_ids]
    if keys:
        await session.execute(_LOCK_APPLICATIONS, {"keys": keys})


async def ordered_components(session: AsyncSession, payment_ids: Iterable[UUID]) -> frozenset[tuple[UUID, str]]:
    ids = list(payment_ids)
    if not ids:
        return frozenset()
    rows = await session.execute(select(OrderRow.payment_id, OrderRow.component).where(OrderRow.payment_id.in_(ids)))
    return frozenset((r[0], r[1]) for r in rows)


async def pending_orders(session: AsyncSession, up_to_month: str) -> list[domain.PaymentOrder]:
    rows = await session.execute(select(OrderRow).where(OrderRow.status == domain.PENDING,
                                                        OrderRow.month <= up_to_month).order_by(OrderRow.id))
    return [_order(r) for r in rows.scalars()]


async def terminations(session: AsyncSession, application_ids: Iterable[UUID]) -> dict[UUID, date | None]:
    ids = list(set(application_ids))
    if not ids:
        return {}
    rows = await session.execute(select(AssignmentRow.application_id, AssignmentRow.terminated_on)
                                 .where(AssignmentRow.application_id.in_(ids)))
    return {r[0]: r[1] for r in rows}


async def upsert_orders(session: AsyncSession, orders: Iterable[domain.PaymentOrder]) -> None:
    for order in orders:
        values = {c: getattr(order, c) for c in _ORDER_COLUMNS}
        await session.execute(pg_insert(OrderRow).values(values).on_conflict_do_update(
            index_elements=[OrderRow.id], set_={c: values[c] for c in ("status", "batch_id", "reason")}
            | {"updated_at": func.now()}))


async def add_batches(session: AsyncSession, batches: Iterable[domain.Batch]) -> None:
    for batch in batches:
        session.add(BatchRow(id=batch.id, bank_code=batch.bank_code, month=batch.month, count=batch.count,
                             total=batch.total, checksum=batch.checksum))
    await session.flush()


async def get_order(session: AsyncSession, order_id: UUID, *, for_update: bool = False) -> domain.PaymentOrder | None:
    query = select(OrderRow).where(OrderRow.id == order_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    return _order(row) if row else None


async def is_reissued(session: AsyncSession, order_id: UUID) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(OrderRow).where(OrderRow.reissue_of == order_id)))


async def orders_of_payments(session: AsyncSession, payment_ids: Iterable[UUID]) -> list[domain.PaymentOrder]:
    ids = list(payment_ids)
    if not ids:
        return []
    rows = await session.execute(select(OrderRow).where(OrderRow.payment_id.in_(ids)).order_by(OrderRow.id))
    return [_order(r) for r in rows.scalars()]


async def orders_of_application(session: AsyncSession, application_id: UUID, *,
                                for_update: bool = False) -> list[domain.PaymentOrder]:
    query = select(OrderRow).where(OrderRow.application_id == application_id).order_by(OrderRow.id)
    if for_update:
        query = query.with_for_update()
    return [_order(r) for r in (await session.execute(query)).scalars()]


async def get_payment_for_update(session: AsyncSession, payment_id: UUID) -> domain.Payment | None:
    return await get_payment(session, payment_id, for_update=True)


async def orders_of_month(session: AsyncSession, month: str, bank_code: str | None) -> list[domain.PaymentOrder]:
    query = select(OrderRow).where(OrderRow.month == month)
    if bank_code:
        query = query.where(OrderRow.bank_code == bank_code)
    return [_order(r) for r in (await session.execute(query.order_by(OrderRow.id))).scalars()]


async def plans_of_month(session: AsyncSession, month: str, bank_code: str | None) -> list[domain.Payment]:
    query = select(PaymentRow).where(PaymentRow.month == month)
    if bank_code:
        query = query.where(PaymentRow.bank_code == bank_code)
    return [_payment(r) for r in (await session.execute(query.order_by(PaymentRow.id))).scalars()]


# ---- batches -----------------------------------------------------------------------------------

async def batches_for_bank(session: AsyncSession, bank_code: str, *, acknowledged: bool,
                           limit: int) -> list[tuple[BatchRow, list[domain.PaymentOrder]]]:
    query = select(BatchRow).where(BatchRow.bank_code == bank_code)
    query = query.where(BatchRow.acknowledged_at.is_not(None) if acknowledged else BatchRow.acknowledged_at.is_(None))
    batches = list((await session.execute(query.order_by(BatchRow.id).limit(limit))).scalars())
    if not batches:
        return []
    rows = await session.execute(select(OrderRow).where(OrderRow.batch_id.in_([b.id for b in batches]))
                                 .order_by(OrderRow.id))
    by_batch: dict[UUID, list[domain.PaymentOrder]] = {b.id: [] for b in batches}
    for row in rows.scalars():
        by_batch[row.batch_id].append(_order(row))  # type: ignore[index]
    return [(b, by_batch[b.id]) for b in batches]


async def get_batch(session: AsyncSession, batch_id: UUID, *, for_update: bool = False) -> BatchRow | None:
    query = select(BatchRow).where(BatchRow.id == batch_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def orders_of_batch(session: AsyncSession, batch_id: UUID) -> list[domain.PaymentOrder]:
    rows = await session.execute(select(OrderRow).where(OrderRow.batch_id == batch_id).order_by(OrderRow.id))
    return [_order(r) for r in rows.scalars()]


# ---- anomalies and parked contract facts -------------------------------------------------------

async def add_anomalies(session: AsyncSession, anomalies: Iterable[domain.Anomaly]) -> None:
    for a in anomalies:
        session.add(AnomalyRow(kind=a.kind, bank_code=a.bank_code, month=a.month, order_id=a.order_id,
                               amount=a.amount, detail=a.detail[:500]))
    await session.flush()


async def anomalies_of_month(session: AsyncSession, month: str, bank_code: str | None) -> list[AnomalyRow]:
    # An anomaly about an unknown order has no month: it is listed under the month it was seen in.
    query = select(AnomalyRow).where((AnomalyRow.month == month) | (
        AnomalyRow.month.is_(None) & (func.to_char(func.timezone("Asia/Almaty", AnomalyRow.detected_at), "YYYY-MM")
                                      == month)))
    if bank_code:
        query = query.where(AnomalyRow.bank_code == bank_code)
    return list((await session.execute(query.order_by(AnomalyRow.id))).scalars())


async def contract_facts(session: AsyncSession, application_id: UUID) -> ContractFactsRow | None:
    return await session.get(ContractFactsRow, application_id)


async def park_signature(session: AsyncSession, application_id: UUID, decision_id: UUID) -> None:
    await session.execute(pg_insert(ContractFactsRow).values(application_id=application_id,
                                                             signed_decision_id=decision_id)
                          .on_conflict_do_update(index_elements=[ContractFactsRow.application_id],
                                                 set_={"signed_decision_id": decision_id}))


async def park_termination(session: AsyncSession, application_id: UUID, terminated_on: date) -> None:
    await session.execute(pg_insert(ContractFactsRow).values(application_id=application_id,
                                                             terminated_on=terminated_on)
                          .on_conflict_do_update(index_elements=[ContractFactsRow.application_id],
                                                 set_={"terminated_on": terminated_on}))
