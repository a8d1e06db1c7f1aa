"""Verification use cases: gather and freeze the evidence for an application, show it."""

from __future__ import annotations

import asyncio
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification import domain, repository
from services.verification.adapters import IncomeRegistry
from services.verification.schemas import EvidenceOut
from shared.access import FamilyAccess, family_access, note_data_subjects
from shared.calendar import utcnow
from shared.errors import NotFound
from shared.events import Envelope
from shared.events.contracts import ApplicationSubmitted
from shared.identity import Caller
from shared.ids import uuid7
from shared.outbox import emit

SOURCE = "verification"


async def gather_evidence(session: AsyncSession, envelope: Envelope, *, registry: IncomeRegistry) -> None:
    submitted: ApplicationSubmitted = envelope.payload()  # type: ignore[assignment]
    application_id = submitted.application.application_id
    if await repository.by_application(session, application_id) is not None:
        return  # evidence is frozen once gathered: a repeat does not ask the registries again
    quarter = domain.quarter_to_assess(submitted)
    per_member = await asyncio.gather(*(registry.incomes(m.iin, quarter) for m in submitted.members))
    evidence, event = domain.freeze(submitted, [i for incomes in per_member for i in incomes],
                                    evidence_id=uuid7(), at=utcnow())
    await repository.add(session, evidence)
    await emit(session, event, source=SOURCE, key=str(application_id), cause=envelope)


def _evidence_readers(caller: Caller) -> FamilyAccess:
    """A citizen reads their families' evidence, a case worker their regions'; ops reads only
    masked lists and statistics, and evidence is each member's incomes (nothing to mask it to)."""
    return family_access(caller, unmaskable="Evidence lists each member's incomes")


async def get_evidence(*, session: AsyncSession, caller: Caller, application_id: UUID) -> EvidenceOut:
    access = _evidence_readers(caller)
    evidence = await repository.by_application(session, application_id)
    # Evidence of a family the caller may not see answers as if there were none.
    if evidence is None or not access.may_see(evidence.member_iins, evidence.region_kato or ""):
        raise NotFound(f"No evidence gathered yet for application {application_id}.")
    note_data_subjects(evidence.member_iins)
    return EvidenceOut.model_validate(evidence)
