"""Verification use cases: gather and freeze the evidence for an application."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification import domain, repository
from services.verification.adapters import IncomeRegistry
from services.verification.models import Evidence
from shared.errors import NotFound
from shared.events import Envelope
from shared.events.contracts import ApplicationSubmitted, VerificationCompleted
from shared.outbox import emit

SOURCE = "verification"


async def gather_evidence(session: AsyncSession, envelope: Envelope, *, registry: IncomeRegistry) -> None:
    event: ApplicationSubmitted = envelope.payload()  # type: ignore[assignment]
    application_id = event.application.application_id
    if await repository.by_application(session, application_id) is not None:
        return  # evidence is frozen once gathered
    quarter = domain.assessment_quarter(event.application.application_date)
    per_member = await asyncio.gather(*(registry.incomes(m.iin, quarter) for m in event.members))
    incomes = [income for member_incomes in per_member for income in member_incomes]
    evidence = Evidence(
        application_id=application_id,
        assessment_quarter=str(quarter),
        members=[m.model_dump(mode="json") for m in event.members],
        incomes=[i.model_dump(mode="json") for i in incomes],
        sources={"income_registry": {"quarter": str(quarter), "members_queried": len(event.members)}},
    )
    session.add(evidence)
    await session.flush()
    await emit(
        session,
        VerificationCompleted(
            application=event.application,
            evidence_id=evidence.id,
            assessment_quarter=str(quarter),
            members=event.members,
            incomes=incomes,
        ),
        source=SOURCE,
        key=str(application_id),
        cause=envelope,
    )


async def get_evidence(*, session: AsyncSession, application_id: UUID) -> dict[str, Any]:
    evidence = await repository.by_application(session, application_id)
    if evidence is None:
        raise NotFound(f"No evidence gathered yet for application {application_id}.")
    return {
        "evidence_id": str(evidence.id),
        "application_id": str(evidence.application_id),
        "assessment_quarter": evidence.assessment_quarter,
        "incomes": evidence.incomes,
        "sources": evidence.sources,
        "collected_at": evidence.collected_at.isoformat(),
    }
