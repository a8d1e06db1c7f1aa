from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.models import Evidence


async def by_application(session: AsyncSession, application_id: UUID) -> Evidence | None:
    return (await session.execute(select(Evidence).where(Evidence.application_id == application_id))).scalar_one_or_none()
