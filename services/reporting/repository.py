"""Every query of reporting: the projection's upsert and the statistics read from it; the
reconciliation sweep's re-drives; the dead letters."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import Insert, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from services.reporting import domain
from services.reporting.models import ApplicationFact, DeadLetter, Redrive
from shared.events.contracts import DEAD_LETTER_TOPIC
from shared.outbox import inbox


async def upsert_fact(session: AsyncSession, change: domain.FactChange) -> None:
    """One statement, so two events of one application handled at once cannot lose each
    other's facts; the stage only moves forward (the domain's order of stages)."""
    params = {**domain.NOT_YET_KNOWN, **change.facts, "application_id": change.application_id, "stage": change.stage,
              "stage_index": domain.STAGES.index(change.stage)}
    await session.execute(_upsert_statement(tuple(sorted(change.facts))), params)


@functools.lru_cache(maxsize=128)
def _upsert_statement(fact_names: tuple[str, ...]) -> Insert:
    """The upsert for events that carry these facts, built once (with bound parameters) rather
    than for every event: building it cost as much CPU as running it."""
    names = ("application_id", *domain.NOT_YET_KNOWN, *(n for n in fact_names if n not in domain.NOT_YET_KNOWN), "stage")
    statement = insert(ApplicationFact).values({name: bindparam(name) for name in names})
    stage_rank = case({s: i for i, s in enumerate(domain.STAGES)}, value=ApplicationFact.stage, else_=-1)
    changes = {name: statement.excluded[name] for name in fact_names}
    changes["stage"] = case((stage_rank < bindparam("stage_index"), statement.excluded.stage), else_=ApplicationFact.stage)
    return statement.on_conflict_do_update(index_elements=[ApplicationFact.application_id], set_=changes)


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


# ---- the reconciliation sweep's re-drives -------------------------------------------------------

async def record_redrive(session: AsyncSession, *, application_id: UUID, status: str, owner: str, attempt: int,
                         max_attempts: int, at: datetime) -> None:
    statement = insert(Redrive).values(application_id=application_id, status=status, owner=owner, attempts=attempt,
                                       max_attempts=max_attempts, first_requested_at=at, last_requested_at=at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[Redrive.application_id, Redrive.status],
        set_={"owner": statement.excluded.owner, "max_attempts": statement.excluded.max_attempts,
              "attempts": func.greatest(Redrive.attempts, statement.excluded.attempts),
              "last_requested_at": func.greatest(Redrive.last_requested_at, statement.excluded.last_requested_at)}))


def _fact_rank() -> ColumnElement[int]:
    return func.coalesce(case({s: i for i, s in enumerate(domain.STAGES)}, value=ApplicationFact.stage, else_=-1), -1)


async def redrives_per_status(session: AsyncSession, *, region_kato: str | None) -> dict[str, tuple[int, int, int]]:
    """status -> (applications re-driven in it, of which still stuck there, of which given their
    last re-drive). Still stuck: the application's stage has not moved past the status's. In a
    region: of the applications known to be there."""
    threshold = case({status: domain.stage_rank(stage) for status, stage in domain.STAGE_OF_SWEPT_STATUS.items()},
                     value=Redrive.status, else_=len(domain.STAGES))
    stuck = _fact_rank() <= threshold
    query = (select(Redrive.status, func.count(), func.count().filter(stuck),
                    func.count().filter(and_(stuck, Redrive.attempts >= Redrive.max_attempts)))
             .select_from(Redrive).outerjoin(ApplicationFact, ApplicationFact.application_id == Redrive.application_id)
             .group_by(Redrive.status))
    rows = await session.execute(_in_region(query, region_kato))
    return {status: (int(redriven), int(still), int(left)) for status, redriven, still, left in rows}


# ---- dead letters -------------------------------------------------------------------------------

def _pending() -> ColumnElement[bool]:
    """Not replayed since it last failed."""
    return or_(DeadLetter.replayed_at.is_(None), DeadLetter.last_seen_at > DeadLetter.replayed_at)


async def first_sight(session: AsyncSession, seen: domain.DeadLetterSeen) -> bool:
    """False when this dead-letter message (its topic position) was recorded before: a
    redelivery. The inbox keeps the positions."""
    inserted = await session.execute(
        insert(inbox).values(event_id=seen.position, event_type=seen.event_type, source="dead-letter",
                             key=seen.key, topic=DEAD_LETTER_TOPIC, partition=-1, offset=-1)
        .on_conflict_do_nothing(index_elements=[inbox.c.event_id]).returning(inbox.c.event_id))
    return inserted.first() is not None


async def record_dead_letter(session: AsyncSession, seen: domain.DeadLetterSeen, at: datetime) -> None:
    """A failure of an event in a service. Seen again while it waits for a replay, it is the same
    failure sent twice (a relay re-sends what it could not mark sent); seen again after a replay,
    the replay failed too: it counts, and is pending again."""
    statement = insert(DeadLetter).values(
        event_id=seen.event_id, failed_in=seen.failed_in, event_type=seen.event_type, key=seen.key,
        original_topic=seen.original_topic, error=seen.error, first_seen_at=at, last_seen_at=at, times=1,
        envelope=seen.envelope, replays=0)
    failed_again = and_(DeadLetter.replayed_at.is_not(None), DeadLetter.replayed_at >= DeadLetter.last_seen_at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[DeadLetter.event_id, DeadLetter.failed_in],
        set_={"times": DeadLetter.times + case((failed_again, 1), else_=0),
              "last_seen_at": case((failed_again, statement.excluded.last_seen_at), else_=DeadLetter.last_seen_at),
              "error": case((failed_again, statement.excluded.error), else_=DeadLetter.error),
              "envelope": func.coalesce(DeadLetter.envelope, statement.excluded.envelope)}))


def _filtered(query: Select, *, event_type: str | None, failed_in: str | None,
              original_topic: str | None) -> Select:
    if event_type:
        query = query.where(DeadLetter.event_type == event_type)
    if failed_in:
        query = query.where(DeadLetter.failed_in == failed_in)
    if original_topic:
        query = query.where(DeadLetter.original_topic == original_topic)
    return query


async def dead_letters(session: AsyncSession, *, pending: bool | None, event_type: str | None,
                       failed_in: str | None, limit: int) -> list[DeadLetter]:
    """The most recently failed first."""
    query = _filtered(select(DeadLetter), event_type=event_type, failed_in=failed_in, original_topic=None)
    if pending is not None:
        query = query.where(_pending() if pending else ~_pending())
    query = query.order_by(DeadLetter.last_seen_at.desc(), DeadLetter.event_id, DeadLetter.failed_in).limit(limit)
    return list((await session.execute(query)).scalars())


async def dead_letter_event(session: AsyncSession, event_id: UUID) -> list[DeadLetter]:
    """Every service's failure of one event."""
    return list((await session.execute(
        select(DeadLetter).where(DeadLetter.event_id == event_id).order_by(DeadLetter.first_seen_at,
                                                                           DeadLetter.failed_in))).scalars())


async def events_to_replay(session: AsyncSession, *, event_type: str | None, failed_in: str | None,
                           original_topic: str | None, include_replayed: bool,
                           limit: int) -> list[tuple[UUID, str, dict[str, Any]]]:
    """(event id, original topic, envelope) of each replayable event matching, oldest failure
    first; only those not replayed since they last failed unless `include_replayed`."""
    query = _filtered(select(DeadLetter.event_id, func.min(DeadLetter.original_topic),
                             func.min(DeadLetter.first_seen_at).label("first"))
                      .where(DeadLetter.envelope.is_not(None)),
                      event_type=event_type, failed_in=failed_in, original_topic=original_topic)
    if not include_replayed:
        query = query.where(_pending())
    chosen = (await session.execute(query.group_by(DeadLetter.event_id).order_by("first", DeadLetter.event_id)
                                    .limit(limit))).all()
    if not chosen:
        return []
    envelopes = dict((await session.execute(
        select(DeadLetter.event_id, DeadLetter.envelope).ext(distinct_on(DeadLetter.event_id))
        .where(DeadLetter.event_id.in_([row[0] for row in chosen]), DeadLetter.envelope.is_not(None)))).all())
    return [(event_id, topic, envelopes[event_id]) for event_id, topic, _ in chosen]


async def count_events_to_replay(session: AsyncSession, *, event_type: str | None, failed_in: str | None,
                                 original_topic: str | None, include_replayed: bool) -> int:
    query = _filtered(select(func.count(func.distinct(DeadLetter.event_id))).where(DeadLetter.envelope.is_not(None)),
                      event_type=event_type, failed_in=failed_in, original_topic=original_topic)
    if not include_replayed:
        query = query.where(_pending())
    return int(await session.scalar(query) or 0)


async def mark_replayed(session: AsyncSession, event_ids: Sequence[UUID], *, replay_id: str, at: datetime) -> None:
    await session.execute(update(DeadLetter).where(DeadLetter.event_id.in_(event_ids))
                          .values(replayed_at=at, replay_id=replay_id, replays=DeadLetter.replays + 1))


async def unreplayed_per_service(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(DeadLetter.failed_in, func.count()).where(_pending())
                                 .group_by(DeadLetter.failed_in))
    return {failed_in: int(count) for failed_in, count in rows}


async def dead_letter_totals(session: AsyncSession) -> tuple[int, int]:
    """(events not replayed since they last failed, events ever dead-lettered)."""
    row = (await session.execute(select(func.count(func.distinct(DeadLetter.event_id)).filter(_pending()),
                                        func.count(func.distinct(DeadLetter.event_id))))).one()
    return int(row[0]), int(row[1])
