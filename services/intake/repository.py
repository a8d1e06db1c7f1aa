"""Every query of intake: applications in and out as the domain's `Application`."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.models import Application as ApplicationRow
from services.intake.models import ApplicationMember as MemberRow
from services.intake.models import StatusChange as StatusChangeRow

_MEMBER_COLUMNS = ("iin", "full_name", "birth_date", "sex", "relation", "phone", "employed", "full_time_student",
                   "disability_group", "carer")
_APPLICATION_COLUMNS = ("id", "status", "channel", "region_kato", "settlement", "application_date", "extension",
                        "expense_check_consent", "bank_iban", "bank_code", "submitted_by", "submitted_at",
                        "decision", "contract_id")


def _application(row: ApplicationRow) -> domain.Application:
    return domain.Application(
        **{c: getattr(row, c) for c in _APPLICATION_COLUMNS},
        members=tuple(domain.Member(**{c: getattr(m, c) for c in _MEMBER_COLUMNS}) for m in row.members),
        timeline=tuple(domain.StatusChange(c.status, c.at, c.event_id, c.detail) for c in row.timeline),
    )


def _status_change(application_id: UUID, change: domain.StatusChange) -> StatusChangeRow:
    return StatusChangeRow(application_id=application_id, status=change.status, at=change.at,
                           event_id=change.event_id, detail=change.detail)


async def get(session: AsyncSession, application_id: UUID, *, for_update: bool = False) -> domain.Application | None:
    query = select(ApplicationRow).where(ApplicationRow.id == application_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    return _application(row) if row else None


async def active_iins(session: AsyncSession, iins: list[str]) -> set[str]:
    rows = await session.execute(select(MemberRow.iin).where(MemberRow.iin.in_(iins), MemberRow.active.is_(True)))
    return set(rows.scalars())


async def list_recent(session: AsyncSession, *, status: str | None, region_kato: str | None,
                      limit: int) -> list[domain.Application]:
    query = select(ApplicationRow).order_by(ApplicationRow.id.desc()).limit(limit)
    if status:
        query = query.where(ApplicationRow.status == status)
    if region_kato:
        query = query.where(ApplicationRow.region_kato == region_kato)
    return [_application(row) for row in (await session.execute(query)).scalars()]


async def add(session: AsyncSession, application: domain.Application) -> None:
    row = ApplicationRow(
        **{c: getattr(application, c) for c in _APPLICATION_COLUMNS},
        members=[MemberRow(position=i, active=application.holds_members,
                           **{c: getattr(m, c) for c in _MEMBER_COLUMNS}) for i, m in enumerate(application.members)],
        timeline=[_status_change(application.id, change) for change in application.timeline],
    )
    session.add(row)
    await session.flush()  # the unique index on active members speaks here, inside the request


async def save(session: AsyncSession, application: domain.Application, change: domain.StatusChange | None) -> None:
    """Write the application's state back, recording `change` in its timeline."""
    # The row is in the session already (it was loaded to be changed): no second query.
    row = await session.get_one(ApplicationRow, application.id)
    for name in ("status", "decision", "contract_id"):
        setattr(row, name, getattr(application, name))
    for member in row.members:
        member.active = application.holds_members
    if change is not None:
        row.timeline.append(_status_change(row.id, change))
    await session.flush()
