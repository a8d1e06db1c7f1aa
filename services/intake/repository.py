from __future__ import annotations

from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import Application, ApplicationMember, StatusChange


async def get(session: AsyncSession, application_id: UUID, *, for_update: bool = False) -> Application | None:
    query = select(Application).where(Application.id == application_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def active_iins(session: AsyncSession, iins: list[str]) -> set[str]:
    rows = await session.execute(
        select(ApplicationMember.iin).where(ApplicationMember.iin.in_(iins), ApplicationMember.active.is_(True))
    )
    return set(rows.scalars())


async def deactivate_members(session: AsyncSession, application_id: UUID) -> None:
    await session.execute(
        update(ApplicationMember).where(ApplicationMember.application_id == application_id).values(active=False)
    )


async def list_recent(session: AsyncSession, *, status: str | None, region_kato: str | None, limit: int) -> list[Application]:
    query = select(Application).order_by(Application.id.desc()).limit(limit)
    if status:
        query = query.where(Application.status == status)
    if region_kato:
        query = query.where(Application.region_kato == region_kato)
    return list((await session.execute(query)).scalars())


def add_status(session: AsyncSession, application: Application, status: str, *, event_id: UUID | None = None,
               detail: dict | None = None) -> None:
    application.status = status
    change = StatusChange(application_id=application.id, status=status, event_id=event_id, detail=detail)
    session.add(change)
    application.timeline.append(change)
