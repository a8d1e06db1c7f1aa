"""Every query of payments: assignments and payments in and out as the domain's dataclasses."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import domain
from services.payments.models import Assignment as AssignmentRow
from services.payments.models import Payment as PaymentRow
from shared.events.contracts import MonthlyAmount

_ASSIGNMENT_COLUMNS = ("decision_id", "application_id", "kind", "status", "period_quarter", "region_kato",
                       "settlement", "bank_iban", "bank_code")
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
    row = (await session.execute(query)).scalar_one_or_none()
    return _assignment(row) if row else None


async def assignment_for_application(session: AsyncSession, application_id: UUID) -> domain.Assignment | None:
    row = (await session.execute(
        select(AssignmentRow).where(AssignmentRow.application_id == application_id))).scalar_one_or_none()
    return _assignment(row) if row else None


async def add_assignment(session: AsyncSession, assignment: domain.Assignment) -> None:
    session.add(AssignmentRow(**_assignment_values(assignment)))
    await session.flush()


async def save_assignment(session: AsyncSession, assignment: domain.Assignment) -> None:
    # The row is in the session already (it was loaded to be changed): no second query.
    row = await session.get_one(AssignmentRow, assignment.decision_id)
    for name, value in _assignment_values(assignment).items():
        setattr(row, name, value)
    await session.flush()


async def scheduled_months(session: AsyncSession, application_id: UUID) -> frozenset[str]:
    rows = await session.execute(select(PaymentRow.month).where(PaymentRow.application_id == application_id))
    return frozenset(rows.scalars())


async def add_payments(session: AsyncSession, payments: Iterable[domain.Payment]) -> None:
    """The unique (application, month) constraint refuses a second payment for a month even if
    two deliveries race past the domain's check; the loser's transaction rolls back and retries."""
    rows = [{c: getattr(p, c) for c in _PAYMENT_COLUMNS} for p in payments]
    if rows:
        await session.execute(insert(PaymentRow).values(rows))


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


async def orders_for_bank(session: AsyncSession, bank_code: str, status: str, limit: int) -> list[domain.Payment]:
    rows = await session.execute(
        select(PaymentRow).where(PaymentRow.bank_code == bank_code, PaymentRow.status == status)
        .order_by(PaymentRow.month, PaymentRow.id).limit(limit))
    return [_payment(row) for row in rows.scalars()]
