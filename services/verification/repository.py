"""Every query of verification: evidence in and out as the domain's `Evidence`."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification import domain
from services.verification.models import Evidence as EvidenceRow
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
