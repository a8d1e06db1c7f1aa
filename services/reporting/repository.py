"""Every query of reporting: the projection's upsert and the statistics read from it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from services.reporting import domain
from services.reporting.models import ApplicationFact


async def upsert_fact(session: AsyncSession, change: domain.FactChange) -> None:
    """One statement, so two events of one application handled at once cannot lose each
    other's facts; the stage only moves forward (the domain's order of stages)."""
    stage_rank = case({s: i for i, s in enumerate(domain.STAGES)}, value=ApplicationFact.stage, else_=-1)
    update: dict[str, Any] = dict(change.facts)
    update["stage"] = case((stage_rank < domain.STAGES.index(change.stage), change.stage), else_=ApplicationFact.stage)
    await session.execute(
        insert(ApplicationFact)
        .values({"application_id": change.application_id, **domain.NOT_YET_KNOWN, **change.facts, "stage": change.stage})
        .on_conflict_do_update(index_elements=[ApplicationFact.application_id], set_=update)
    )


def _in_region(query: Select, region_kato: str | None) -> Select:
    return query.where(ApplicationFact.region_kato == region_kato) if region_kato else query


async def applications_by_stage(session: AsyncSession, *, region_kato: str | None) -> dict[str, int]:
    rows = await session.execute(_in_region(
        select(ApplicationFact.stage, func.count()).group_by(ApplicationFact.stage), region_kato))
    return {stage: count for stage, count in rows}


async def approved(session: AsyncSession, *, region_kato: str | None) -> tuple[int, int, int]:
    """(families, recipients, tenge scheduled) of approved applications."""
    row = (await session.execute(_in_region(select(
        func.count(), func.coalesce(func.sum(ApplicationFact.members), 0),
        func.coalesce(func.sum(ApplicationFact.scheduled_total), 0),
    ).where(ApplicationFact.eligible.is_(True)), region_kato))).one()
    return int(row[0]), int(row[1]), int(row[2])


async def rejected(session: AsyncSession, *, region_kato: str | None) -> int:
    count = await session.scalar(_in_region(
        select(func.count()).select_from(ApplicationFact).where(ApplicationFact.eligible.is_(False)), region_kato))
    return int(count or 0)


async def figures_by_region(session: AsyncSession, *, region_kato: str | None) -> list[dict[str, Any]]:
    eligible = ApplicationFact.eligible.is_(True)
    rows = await session.execute(_in_region(select(
        ApplicationFact.region_kato.label("region_kato"),
        func.count().label("applications"),
        func.count().filter(eligible).label("approved_families"),
        func.coalesce(func.sum(ApplicationFact.members).filter(eligible), 0).label("recipients"),
        func.count().filter(ApplicationFact.stage.in_(domain.UNDECIDED_STAGES)).label("undecided"),
        func.coalesce(func.sum(ApplicationFact.scheduled_total), 0).label("scheduled_total_tenge"),
    ).group_by(ApplicationFact.region_kato).order_by(ApplicationFact.region_kato), region_kato))
    return [dict(row) for row in rows.mappings()]
