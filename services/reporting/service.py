"""Reporting use cases: project every event into the read model, read statistics from it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import domain, repository
from services.reporting.schemas import RegionStatsOut, SummaryOut
from shared.events import Envelope
from shared.regions import region_name


async def project(session: AsyncSession, envelope: Envelope) -> None:
    event: domain.ProjectedEvent = envelope.payload()  # type: ignore[assignment]
    await repository.upsert_fact(session, domain.fact_change(event, envelope.occurred_at))


async def summary(*, session: AsyncSession, region_kato: str | None) -> SummaryOut:
    by_stage = await repository.applications_by_stage(session, region_kato=region_kato)
    families, recipients, scheduled = await repository.approved(session, region_kato=region_kato)
    return SummaryOut(
        applications_by_stage=by_stage,
        approved_families=families,
        rejected_families=await repository.rejected(session, region_kato=region_kato),
        recipients=recipients,
        scheduled_total_tenge=scheduled,
        undecided=domain.undecided(by_stage),
    )


async def by_region(*, session: AsyncSession, region_kato: str | None) -> list[RegionStatsOut]:
    return [RegionStatsOut(region=region_name(figures["region_kato"]), **figures)
            for figures in await repository.figures_by_region(session, region_kato=region_kato)]
