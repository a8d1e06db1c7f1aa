from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility.models import DecisionRecord, ParameterRecord


async def all_parameters(session: AsyncSession) -> list[ParameterRecord]:
    return list((await session.execute(select(ParameterRecord).order_by(ParameterRecord.recorded_at))).scalars())


async def decision(session: AsyncSession, decision_id: UUID) -> DecisionRecord | None:
    return await session.get(DecisionRecord, decision_id)


async def decision_for_application(session: AsyncSession, application_id: UUID) -> DecisionRecord | None:
    return (await session.execute(
        select(DecisionRecord).where(DecisionRecord.application_id == application_id))).scalar_one_or_none()
