"""Every query of verification: evidence in and out as the domain's `Evidence`, and the
applications waiting for an external system as the domain's `Waiting`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification import domain
from services.verification.models import Evidence as EvidenceRow
from services.verification.models import WaitingApplication as WaitingRow
from shared.events.contracts import FamilyMember, IncomeRecord


async def by_application(session: AsyncSession, application_id: UUID) -> domain.Evidence | None:
    row = (await session.execute(
        select(EvidenceRow).where(EvidenceRow.application_id == application_id))).scalar_one_or_none()
    if row is None:
        return None
    return domain.Evidence(
        id=row.id, application_id=row.application_id, assessment_quarter=row.assessment_quarter,
        members=tuple(FamilyMember.model_validate(m) for m in row.members),
        incomes=tuple(IncomeRecord.model_validate(i) for i in row.incomes),
        sources=row.sources, collected_at=row.collected_at, region_kato=row.region_kato,
    )


async def add(session: AsyncSession, evidence: domain.Evidence) -> None:
    session.add(EvidenceRow(
        id=evidence.id, application_id=evidence.application_id, assessment_quarter=evidence.assessment_quarter,
        members=[m.model_dump(mode="json") for m in evidence.members],
        incomes=[i.model_dump(mode="json") for i in evidence.incomes],
        sources=evidence.sources, collected_at=evidence.collected_at, region_kato=evidence.region_kato,
    ))
    await session.flush()


# ---- applications waiting for an external system ------------------------------------------

def _waiting(row: WaitingRow) -> domain.Waiting:
    return domain.Waiting(application_id=row.application_id, system=row.system, since=row.since,
                          attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error)


async def progress(session: AsyncSession, application_id: UUID) -> tuple[bool, bool]:
    """(its evidence is gathered, it waits for a system), in one round trip."""
    row = (await session.execute(select(exists().where(EvidenceRow.application_id == application_id),
                                        exists().where(WaitingRow.application_id == application_id)))).one()
    return bool(row[0]), bool(row[1])


async def start_waiting(session: AsyncSession, waiting: domain.Waiting, submitted_event: dict[str, Any]) -> bool:
    """Park the application; False if it was waiting already."""
    inserted = await session.execute(
        insert(WaitingRow)
        .values(application_id=waiting.application_id, submitted_event=submitted_event, system=waiting.system,
                since=waiting.since, attempts=waiting.attempts, next_attempt_at=waiting.next_attempt_at,
                last_error=waiting.last_error[:500])
        .on_conflict_do_nothing()
        .returning(WaitingRow.application_id))
    return inserted.first() is not None


async def due(session: AsyncSession, now: datetime, limit: int) -> list[UUID]:
    """The waiting applications due to be tried at `now`, longest due first."""
    return list((await session.execute(
        select(WaitingRow.application_id).where(WaitingRow.next_attempt_at <= now)
        .order_by(WaitingRow.next_attempt_at).limit(limit))).scalars())


async def lock_waiting(session: AsyncSession, application_id: UUID) -> tuple[domain.Waiting, dict[str, Any]] | None:
    """The waiting application and its submitted event, locked for this transaction; None when
    it waits no more or another process is trying it."""
    row = (await session.execute(
        select(WaitingRow).where(WaitingRow.application_id == application_id)
        .with_for_update(skip_locked=True))).scalar_one_or_none()
    return None if row is None else (_waiting(row), row.submitted_event)


async def save_waiting(session: AsyncSession, waiting: domain.Waiting) -> None:
    await session.execute(
        update(WaitingRow).where(WaitingRow.application_id == waiting.application_id)
        .values(attempts=waiting.attempts, next_attempt_at=waiting.next_attempt_at, last_error=waiting.last_error[:500]))


async def stop_waiting(session: AsyncSession, application_id: UUID) -> None:
    await session.execute(delete(WaitingRow).where(WaitingRow.application_id == application_id))


async def make_due(session: AsyncSession, system: str, now: datetime) -> int:
    """`system` answers again: every application waiting for it is due now."""
    result = await session.execute(
        update(WaitingRow).where(WaitingRow.system == system, WaitingRow.next_attempt_at > now)
        .values(next_attempt_at=now))
    return result.rowcount or 0


async def next_attempt_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.min(WaitingRow.next_attempt_at)))


async def waiting_per_system(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(WaitingRow.system, func.count()).group_by(WaitingRow.system))
    return {system: count for system, count in rows}
