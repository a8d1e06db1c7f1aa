"""Evidence: what a decision is made on, gathered from the state registries once and frozen.
Pure Python. The quarter assessed is the platform's one rule, `shared.calendar.assessment_quarter`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.calendar import Quarter, assessment_quarter
from shared.events.contracts import ApplicationSubmitted, FamilyMember, IncomeRecord, VerificationCompleted


@dataclass(frozen=True, slots=True)
class Evidence:
    """Never changed once written: a decision can always be traced to exactly what it saw."""

    id: UUID
    application_id: UUID
    assessment_quarter: str
    members: tuple[FamilyMember, ...]
    incomes: tuple[IncomeRecord, ...]
    sources: dict[str, Any]
    collected_at: datetime
    # Where the family applied: a case worker sees the evidence of the regions they serve.
    # None for evidence gathered before it was kept (then no case worker sees it).
    region_kato: str | None = None

    @property
    def member_iins(self) -> tuple[str, ...]:
        return tuple(m.iin for m in self.members)


def quarter_to_assess(submitted: ApplicationSubmitted) -> Quarter:
    return assessment_quarter(submitted.application.application_date)


def freeze(submitted: ApplicationSubmitted, incomes: Iterable[IncomeRecord], *, evidence_id: UUID,
           at: datetime) -> tuple[Evidence, VerificationCompleted]:
    """The incomes the registry reported for the family's members over the assessment quarter,
    frozen as the evidence of the application, and the event that hands them on."""
    quarter = str(quarter_to_assess(submitted))
    evidence = Evidence(
        id=evidence_id,
        application_id=submitted.application.application_id,
        assessment_quarter=quarter,
        members=tuple(submitted.members),
        incomes=tuple(incomes),
        sources={"income_registry": {"quarter": quarter, "members_queried": len(submitted.members)}},
        collected_at=at,
        region_kato=submitted.application.region_kato,
    )
    return evidence, VerificationCompleted(
        application=submitted.application,
        evidence_id=evidence.id,
        assessment_quarter=quarter,
        members=list(evidence.members),
        incomes=list(evidence.incomes),
    )
