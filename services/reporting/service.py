"""Projections of the event flow into statistics for ops dashboards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import domain
from services.reporting.models import ApplicationFact
from shared.events import Envelope
from shared.regions import region_name


async def project(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.payload()
    stage = domain.STAGE_OF_EVENT[envelope.type]
    context = getattr(event, "application", None)
    application_id = context.application_id if context else event.application_id  # type: ignore[union-attr]
    values: dict[str, Any] = {"stage": stage}
    if envelope.type == "application.submitted":
        values |= {"region_kato": context.region_kato, "settlement": context.settlement,
                   "channel": context.channel, "members": len(event.members),  # type: ignore[attr-defined]
                   "submitted_at": envelope.occurred_at}
    elif envelope.type in ("verification.completed", "eligibility.decided"):
        values |= {"region_kato": context.region_kato, "settlement": context.settlement,
                   "channel": context.channel, "members": len(event.members)}  # type: ignore[attr-defined]
        if envelope.type == "eligibility.decided":
            values |= {"decided_at": envelope.occurred_at, "eligible": event.eligible, "kind": event.kind}  # type: ignore[attr-defined]
    elif envelope.type == "eligibility.deferred":
        values |= {"region_kato": context.region_kato, "settlement": context.settlement, "channel": context.channel}
    elif envelope.type == "payment.scheduled":
        values |= {"scheduled_total": event.total}  # type: ignore[attr-defined]
    insert_values = {"application_id": application_id, "region_kato": "000000000", "settlement": "urban",
                     "channel": "unknown", "members": 0, "scheduled_total": 0} | values
    # Events of one application come from several topics, so they may arrive in any order:
    # the stage only moves forward.
    order = list(domain.STAGE_OF_EVENT.values())
    stage_rank = case({s: i for i, s in enumerate(order)}, value=ApplicationFact.stage, else_=-1)
    new_rank = order.index(stage)
    update = {k: v for k, v in values.items() if k != "stage"}
    update["stage"] = case((stage_rank < new_rank, stage), else_=ApplicationFact.stage)
    await session.execute(
        insert(ApplicationFact).values(insert_values)
        .on_conflict_do_update(index_elements=[ApplicationFact.application_id], set_=update)
    )


async def summary(*, session: AsyncSession) -> dict[str, Any]:
    by_stage = dict((await session.execute(
        select(ApplicationFact.stage, func.count()).group_by(ApplicationFact.stage))).all())
    approved = await session.execute(select(
        func.count(), func.coalesce(func.sum(ApplicationFact.members), 0),
        func.coalesce(func.sum(ApplicationFact.scheduled_total), 0),
    ).where(ApplicationFact.eligible.is_(True)))
    families, recipients, scheduled = approved.one()
    rejected = await session.scalar(select(func.count()).where(ApplicationFact.eligible.is_(False)))
    return {
        "applications_by_stage": by_stage,
        "approved_families": families,
        "rejected_families": rejected or 0,
        "recipients": int(recipients),
        "scheduled_total_tenge": int(scheduled),
        "undecided": sum(by_stage.get(s, 0) for s in domain.UNDECIDED_STAGES),
    }


async def by_region(*, session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(select(
        ApplicationFact.region_kato,
        func.count(),
        func.count().filter(ApplicationFact.eligible.is_(True)),
        func.coalesce(func.sum(ApplicationFact.members).filter(ApplicationFact.eligible.is_(True)), 0),
        func.count().filter(ApplicationFact.stage.in_(domain.UNDECIDED_STAGES)),
        func.coalesce(func.sum(ApplicationFact.scheduled_total), 0),
    ).group_by(ApplicationFact.region_kato).order_by(ApplicationFact.region_kato))
    return [
        {"region_kato": r[0], "region": region_name(r[0]), "applications": r[1], "approved_families": r[2],
         "recipients": int(r[3]), "undecided": r[4], "scheduled_total_tenge": int(r[5])}
        for r in rows
    ]
