from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.contracts.models import SocialContract


async def get(session: AsyncSession, contract_id: UUID, *, for_update: bool = False) -> SocialContract | None:
    query = select(SocialContract).where(SocialContract.id == contract_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def by_application(session: AsyncSession, application_id: UUID) -> SocialContract | None:
    return (await session.execute(
        select(SocialContract).where(SocialContract.application_id == application_id))).scalar_one_or_none()


async def list_recent(session: AsyncSession, *, application_id: UUID | None, status: str | None, limit: int) -> list[SocialContract]:
    query = select(SocialContract).order_by(SocialContract.id.desc()).limit(limit)
    if application_id:
        query = query.where(SocialContract.application_id == application_id)
    if status:
        query = query.where(SocialContract.status == status)
    return list((await session.execute(query)).scalars())
