from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments.models import Assignment, Payment


async def assignment_for_decision(session: AsyncSession, decision_id: UUID, *, for_update: bool = False) -> Assignment | None:
    query = select(Assignment).where(Assignment.decision_id == decision_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def payments_of(session: AsyncSession, application_id: UUID) -> list[Payment]:
    return list((await session.execute(
        select(Payment).where(Payment.application_id == application_id).order_by(Payment.month))).scalars())


async def get_payment(session: AsyncSession, payment_id: UUID, *, for_update: bool = False) -> Payment | None:
    query = select(Payment).where(Payment.id == payment_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def orders_for_bank(session: AsyncSession, bank_code: str, status: str, limit: int) -> list[Payment]:
    return list((await session.execute(
        select(Payment).where(Payment.bank_code == bank_code, Payment.status == status)
        .order_by(Payment.month, Payment.id).limit(limit))).scalars())
