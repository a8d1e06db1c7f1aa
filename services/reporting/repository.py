"""Every query of reporting: the projection's upsert and the statistics read from it; the
reconciliation sweep's re-drives; the dead letters."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, case, delete, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import Insert, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from services.reporting import domain
from services.reporting.models import (
    ApplicationFact,
    ContractFact,
    ContractMeasure,
    DeadLetter,
    ExtensionFact,
    InvitationFact,
    PaymentFact,
    PaymentOrderFact,
    Redrive,
)
from shared.calendar import Quarter, month_label
from shared.db import bound
from shared.events.contracts import DEAD_LETTER_TOPIC
from shared.outbox import inbox


# The projection's statements are built once, with bound parameters, on the tables (SQLAlchemy
# Core): building one for every event (its VALUES literal, its cache key computed anew) and running
# it through the ORM's bulk-insert path cost more CPU than the database took to run it
# (bench/pipeline/micro.py upsert, consent, contract, payment).
_facts = ApplicationFact.__table__
_contracts = ContractFact.__table__
_measures = ContractMeasure.__table__
_payments = PaymentFact.__table__
_orders = PaymentOrderFact.__table__
_invitations = InvitationFact.__table__
_extensions = ExtensionFact.__table__
_redrives = Redrive.__table__


def _latest(current: Any, new: Any) -> Any:
    return func.greatest(current, new)  # PostgreSQL's greatest ignores nulls


async def upsert_fact(session: AsyncSession, change: domain.FactChange, at: datetime | None = None) -> None:
    """One statement, so two events of one application handled at once cannot lose each
    other's facts; the stage only moves forward (the domain's order of stages). `at`: the
    event's time (the row keeps the latest)."""
    params = {**domain.NOT_YET_KNOWN, **change.facts, "application_id": change.application_id, "stage": change.stage,
              "stage_index": domain.STAGES.index(change.stage), "last_event_at": at}
    await session.execute(_upsert_statement(tuple(sorted(change.facts))), params)


@functools.lru_cache(maxsize=128)
def _upsert_statement(fact_names: tuple[str, ...]) -> Insert:
    """The upsert for events that carry these facts."""
    names = ("application_id", *domain.NOT_YET_KNOWN, *(n for n in fact_names if n not in domain.NOT_YET_KNOWN), "stage",
             "last_event_at")
    statement = insert(_facts).values(bound(*names))
    stage_rank = case({s: i for i, s in enumerate(domain.STAGES)}, value=_facts.c.stage, else_=-1)
    changes = {name: statement.excluded[name] for name in fact_names}
    changes["stage"] = case((stage_rank < bindparam("stage_index"), statement.excluded.stage), else_=_facts.c.stage)
    changes["last_event_at"] = _latest(_facts.c.last_event_at, statement.excluded.last_event_at)
    return statement.on_conflict_do_update(index_elements=[_facts.c.application_id], set_=changes)


async def set_consent_flags(session: AsyncSession, *, application_id: UUID, flags: tuple[str, ...],
                            at: datetime) -> None:
    """Turn the application's consent flags true (never false: the order of events does not matter).
    A row not there yet is made with what is not yet known; the submission fills it in."""
    await session.execute(_consent_statement(flags), {**domain.NOT_YET_KNOWN, "application_id": application_id,
                                                      "stage": domain.STAGES[0], "last_event_at": at})


@functools.lru_cache(maxsize=64)
def _consent_statement(flags: tuple[str, ...]) -> Insert:
    """The upsert of these flags (a consent event turns a handful of combinations true)."""
    statement = insert(_facts).values(
        bound("application_id", *domain.NOT_YET_KNOWN, "stage", "last_event_at") | dict.fromkeys(flags, True))
    return statement.on_conflict_do_update(
        index_elements=[_facts.c.application_id],
        set_=dict.fromkeys(flags, True) | {"last_event_at": _latest(_facts.c.last_event_at,
                                                                     statement.excluded.last_event_at)})


async def upsert_contract(session: AsyncSession, *, contract_id: UUID, application_id: UUID, flag: str,
                          measures: dict[str, int] | None, at: datetime) -> None:
    await session.execute(_contract_statement(flag), {"contract_id": contract_id, "application_id": application_id,
                                                      "last_event_at": at})
    if measures:
        await session.execute(_MEASURES_UPSERT, [{"contract_id": contract_id, "measure": measure, "count": count}
                                                 for measure, count in sorted(measures.items())])


@functools.lru_cache(maxsize=16)
def _contract_statement(flag: str) -> Insert:
    statement = insert(_contracts).values(bound("contract_id", "application_id", "last_event_at") | {flag: True})
    return statement.on_conflict_do_update(
        index_elements=[_contracts.c.contract_id],
        set_={flag: True, "last_event_at": _latest(_contracts.c.last_event_at, statement.excluded.last_event_at)})


# Executed with a contract's measures (SQLAlchemy sends them as one multi-row INSERT).
_MEASURES_UPSERT = insert(_measures).values(bound("contract_id", "measure", "count"))
_MEASURES_UPSERT = _MEASURES_UPSERT.on_conflict_do_update(
    index_elements=[_measures.c.contract_id, _measures.c.measure], set_={"count": _MEASURES_UPSERT.excluded.count})

_PAYMENT_INSERT = insert(_payments).values(
    bound("payment_id", "application_id", "bank_code", "month", "total", "last_event_at"))
_PAYMENT_INSERT = _PAYMENT_INSERT.on_conflict_do_update(
    index_elements=[_payments.c.payment_id],
    set_={"last_event_at": _latest(_payments.c.last_event_at, _PAYMENT_INSERT.excluded.last_event_at)})


async def add_planned_payment(session: AsyncSession, planned: domain.PaymentPlanned, at: datetime) -> None:
    await session.execute(_PAYMENT_INSERT, {
        "payment_id": planned.payment_id, "application_id": planned.application_id, "bank_code": planned.bank_code,
        "month": planned.month, "total": planned.total, "last_event_at": at})


async def upsert_order(session: AsyncSession, reported: domain.OrderReported, at: datetime) -> None:
    await session.execute(_order_statement(reported.flag), {
        "order_id": reported.order_id, "application_id": reported.application_id, "bank_code": reported.bank_code,
        "month": reported.month, "amount": reported.amount, "last_event_at": at})


@functools.lru_cache(maxsize=16)
def _order_statement(flag: str) -> Insert:
    statement = insert(_orders).values(
        bound("order_id", "application_id", "bank_code", "month", "amount", "last_event_at") | {flag: True})
    return statement.on_conflict_do_update(
        index_elements=[_orders.c.order_id],
        set_={flag: True, "last_event_at": _latest(_orders.c.last_event_at, statement.excluded.last_event_at)})


async def upsert_invitation(session: AsyncSession, *, invitation_id: UUID, facts: dict[str, Any],
                            at: datetime) -> None:
    statement = _invitation_statement(tuple(facts), bool(facts.get("issued")))
    await session.execute(statement, {**facts, "invitation_id": invitation_id, "last_event_at": at})


@functools.lru_cache(maxsize=16)
def _invitation_statement(names: tuple[str, ...], issued: bool) -> Insert:
    """The upsert of an invitation event that tells these facts (and, `issued`, that it was issued)."""
    statement = insert(_invitations).values(bound("invitation_id", "last_event_at", *names))
    changes: dict[str, Any] = {name: func.coalesce(statement.excluded[name], _invitations.c[name])
                               for name in names if name != "issued"}
    if issued:
        changes["issued"] = True
    changes["last_event_at"] = _latest(_invitations.c.last_event_at, statement.excluded.last_event_at)
    return statement.on_conflict_do_update(index_elements=[_invitations.c.invitation_id], set_=changes)


# The insert of one extension (a family is decided once per quarter, so a second delivery — a
# rebuild racing the service — changes nothing).
_EXTENSION_INSERT = insert(_extensions).values(bound(
    "application_id", "quarter", "decision_id", "run_id", "region_kato", "settlement", "kind", "eligible", "tsa",
    "child_supplement", "assigned_total", "reasons", "last_event_at")).on_conflict_do_nothing(
    index_elements=[_extensions.c.application_id, _extensions.c.quarter])


async def add_extension(session: AsyncSession, facts: dict[str, Any], at: datetime) -> None:
    await session.execute(_EXTENSION_INSERT, {**facts, "last_event_at": at})


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

_REDRIVE_UPSERT = insert(_redrives).values(bound(
    "application_id", "status", "owner", "attempts", "max_attempts", "first_requested_at", "last_requested_at"))
_REDRIVE_UPSERT = _REDRIVE_UPSERT.on_conflict_do_update(
    index_elements=[_redrives.c.application_id, _redrives.c.status],
    set_={"owner": _REDRIVE_UPSERT.excluded.owner, "max_attempts": _REDRIVE_UPSERT.excluded.max_attempts,
          "attempts": func.greatest(_redrives.c.attempts, _REDRIVE_UPSERT.excluded.attempts),
          "last_requested_at": func.greatest(_redrives.c.last_requested_at,
                                             _REDRIVE_UPSERT.excluded.last_requested_at)})


async def record_redrive(session: AsyncSession, *, application_id: UUID, status: str, owner: str, attempt: int,
                         max_attempts: int, at: datetime) -> None:
    await session.execute(_REDRIVE_UPSERT, {
        "application_id": application_id, "status": status, "owner": owner, "attempts": attempt,
        "max_attempts": max_attempts, "first_requested_at": at, "last_requested_at": at})


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


# ---- the dashboard (GET /v1/stats/dashboard) -----------------------------------------------------

REGION_OF = func.substr(ApplicationFact.region_kato, 1, 2)


@dataclass(frozen=True, slots=True)
class Scope:
    """The dashboard's filters: the quarter the benefit is for, and a region (its two KATO digits)."""

    quarter: str | None = None
    region: str | None = None  # the first two digits of a KATO code

    def of_applications(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [
            ApplicationFact.region_kato != domain.NOT_YET_KNOWN["region_kato"]]
        if self.quarter:
            conditions.append(ApplicationFact.quarter == self.quarter)
        if self.region:
            conditions.append(REGION_OF == self.region)
        return conditions

    @property
    def filtered(self) -> bool:
        return bool(self.quarter or self.region)


def _recipient() -> ColumnElement[bool]:
    """An approved family (not withdrawn since)."""
    return and_(ApplicationFact.eligible.is_(True), ApplicationFact.stage != "withdrawn")


async def application_figures(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    """Per region (two KATO digits) and settlement: the applications and what became of them."""
    recipient = _recipient()
    columns = [
        REGION_OF.label("region"), ApplicationFact.settlement.label("settlement"),
        func.count().label("applications"),
        func.count().filter(ApplicationFact.eligible.is_not(None)).label("decided"),
        func.count().filter(ApplicationFact.eligible.is_(True)).label("approved"),
        func.count().filter(ApplicationFact.eligible.is_(False)).label("rejected"),
        func.count().filter(ApplicationFact.stage.in_(domain.UNDECIDED_STAGES)).label("undecided"),
        func.count().filter(and_(ApplicationFact.stage.in_(domain.UNDECIDED_STAGES),
                                 ApplicationFact.submitted_at.is_not(None))).label("backlog"),
        func.count().filter(ApplicationFact.stage == "withdrawn").label("withdrawn"),
        func.count().filter(recipient).label("recipient_families"),
        func.coalesce(func.sum(ApplicationFact.members).filter(recipient), 0).label("recipient_people"),
        func.coalesce(func.sum(ApplicationFact.assigned_total).filter(recipient), 0).label("amount_assigned"),
        *(func.coalesce(func.sum(ApplicationFact.__table__.c[status]).filter(recipient), 0).label(status)
          for status in domain.SOCIAL_STATUSES),
    ]
    rows = await session.execute(select(*columns).where(*scope.of_applications())
                                 .group_by(REGION_OF, ApplicationFact.settlement))
    return [{name: (int(value) if isinstance(value, (int, Decimal)) else value) for name, value in row.items()}
            for row in rows.mappings()]


# A family's quarters as recipient: the quarter of its application (its decision) and each quarter
# a run decided it again (its extensions), with the members and social statuses its application
# told (an extension's event carries none; a family seeded into the register without an application
# has none known).
_STATUS_COLUMNS = ", ".join(f"a.{status}" for status in domain.SOCIAL_STATUSES)
_PERIODS_SQL = f"""
SELECT a.application_id, a.quarter, substr(a.region_kato, 1, 2) AS region, a.settlement,
       a.eligible AND a.stage <> 'withdrawn' AS recipient, a.assigned_total AS amount, a.members, {_STATUS_COLUMNS}
FROM application_facts a
WHERE a.region_kato <> '{domain.NOT_YET_KNOWN["region_kato"]}' AND a.eligible IS NOT NULL
UNION ALL
SELECT e.application_id, e.quarter, substr(e.region_kato, 1, 2), e.settlement,
       e.eligible AND a.stage IS DISTINCT FROM 'withdrawn', e.assigned_total, coalesce(a.members, 0),
       {", ".join(f"coalesce(a.{status}, 0)" for status in domain.SOCIAL_STATUSES)}
FROM extension_facts e LEFT JOIN application_facts a ON a.application_id = e.application_id
"""


async def recipient_figures(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    """Per region (two KATO digits) and settlement: the recipient families, their members and
    social statuses, and the tenge assigned to them — of applications and of extensions. A family
    counts once, as its latest quarter in the scope says (an extension refused ends it; with a
    quarter filter, that quarter's); the amounts of each of its quarters in the scope add up."""
    conditions, params = _scope_conditions(scope, quarter="p.quarter", region="p.region")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # Without a quarter filter, a family's earlier quarters give way to a later extension (an
    # anti-join on the extensions' primary key); with one, a family has one quarter in the scope.
    latest = "TRUE" if scope.quarter else (
        "NOT EXISTS (SELECT 1 FROM extension_facts later WHERE later.application_id = p.application_id "
        "AND later.quarter > p.quarter)")
    statuses = ", ".join(f"coalesce(sum(p.{s}) FILTER (WHERE p.recipient AND p.latest), 0) AS {s}"
                         for s in domain.SOCIAL_STATUSES)
    rows = await session.execute(text(f"""
        SELECT p.region, p.settlement,
               count(*) FILTER (WHERE p.recipient AND p.latest) AS recipient_families,
               coalesce(sum(p.members) FILTER (WHERE p.recipient AND p.latest), 0) AS recipient_people,
               coalesce(sum(p.amount) FILTER (WHERE p.recipient), 0) AS amount_assigned, {statuses}
        FROM (SELECT p.*, {latest} AS latest FROM ({_PERIODS_SQL}) p {where}) p
        GROUP BY p.region, p.settlement"""), params)
    return [{name: (int(value) if isinstance(value, (int, Decimal)) else value) for name, value in row.items()}
            for row in rows.mappings()]


def _scope_conditions(scope: Scope, *, quarter: str, region: str) -> tuple[list[str], dict[str, Any]]:
    """The scope's quarter and region (two KATO digits) as SQL conditions on these expressions."""
    conditions, params = [], {}
    if scope.quarter:
        conditions.append(f"{quarter} = :quarter")
        params["quarter"] = scope.quarter
    if scope.region:
        conditions.append(f"{region} = :region")
        params["region"] = scope.region
    return conditions, params


def _extension_scope(scope: Scope) -> tuple[str, dict[str, Any]]:
    conditions, params = _scope_conditions(scope, quarter="quarter", region="substr(region_kato, 1, 2)")
    return " AND ".join(["TRUE", *conditions]), params


async def extension_figures(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    """Per region (two KATO digits) and settlement: the families a run extended into the scope's
    quarter(s), those it did not, and the extended families' tenge (TSA, child supplement)."""
    where, params = _extension_scope(scope)
    rows = await session.execute(text(f"""
        SELECT substr(region_kato, 1, 2) AS region, settlement,
               count(*) FILTER (WHERE eligible) AS extended, count(*) FILTER (WHERE NOT eligible) AS ended,
               coalesce(sum(assigned_total) FILTER (WHERE eligible), 0) AS amount_assigned,
               coalesce(sum(tsa) FILTER (WHERE eligible), 0) AS tsa,
               coalesce(sum(child_supplement) FILTER (WHERE eligible), 0) AS child_supplement
        FROM extension_facts WHERE {where} GROUP BY 1, 2"""), params)
    return [{name: (int(value) if isinstance(value, (int, Decimal)) else value) for name, value in row.items()}
            for row in rows.mappings()]


async def extension_endings(session: AsyncSession, scope: Scope) -> dict[str, int]:
    """Refused extensions per reason code that refuses (a family refused for two counts under both)."""
    where, params = _extension_scope(scope)
    rows = await session.execute(text(f"""
        SELECT reason, count(*) FROM extension_facts, unnest(reasons) AS reason
        WHERE NOT eligible AND reason = ANY(:refusing) AND {where} GROUP BY reason"""),
        {**params, "refusing": list(domain.REFUSING_REASONS)})
    return {reason: int(count) for reason, count in rows}


async def latest_extensions(session: AsyncSession, *, region_kato: str | None) -> list[dict[str, Any]]:
    """Per KATO code: the families whose latest extension extended them, and those it ended (the
    older statistics: every quarter, a family once)."""
    rows = await session.execute(text("""
        SELECT region_kato, count(*) FILTER (WHERE eligible) AS extended, count(*) FILTER (WHERE NOT eligible) AS ended
        FROM (SELECT DISTINCT ON (application_id) region_kato, eligible FROM extension_facts
              WHERE (CAST(:region AS text) IS NULL OR region_kato = :region)
              ORDER BY application_id, quarter DESC) latest
        GROUP BY region_kato"""), {"region": region_kato})
    return [dict(row) for row in rows.mappings()]


def _paid_in_scope(query: Select, application_id: Any, month: Any, scope: Scope) -> Select:
    """`query` of payments (scheduled or reported) in the scope: the quarter by the month paid —
    an application's months are those of its quarter, and an extension's those of the quarter it
    extends into, which its application's quarter is not —, the region through the application's
    facts (a family seeded into the register has none, so its payments count only unfiltered by
    region)."""
    if scope.quarter:
        query = query.where(month.in_([month_label(day) for day in Quarter.parse(scope.quarter).months()]))
    if scope.region:
        query = query.join(ApplicationFact, ApplicationFact.application_id == application_id).where(
            *Scope(region=scope.region).of_applications())
    return query


def _joined(query: Select, application_id: Any, scope: Scope) -> Select:
    """`query` of another table, in the scope of its applications' facts (every row when no filter)."""
    if not scope.filtered:
        return query
    return query.join(ApplicationFact, ApplicationFact.application_id == application_id).where(
        *scope.of_applications())


async def amount_paid(session: AsyncSession, scope: Scope) -> int:
    """Whole tenge the banks reported settled."""
    query = select(func.coalesce(func.sum(PaymentOrderFact.amount).filter(PaymentOrderFact.settled.is_(True)), 0))
    return int(await session.scalar(_paid_in_scope(query.select_from(PaymentOrderFact), PaymentOrderFact.application_id,
                                                   PaymentOrderFact.month, scope)) or 0)


async def backlog_by_day(session: AsyncSession, scope: Scope) -> list[tuple[str, date, int]]:
    """(region, Almaty day of submission, undecided applications)."""
    day = func.date(func.timezone("Asia/Almaty", ApplicationFact.submitted_at))
    rows = await session.execute(
        select(REGION_OF, day, func.count())
        .where(*scope.of_applications(), ApplicationFact.stage.in_(domain.UNDECIDED_STAGES),
               ApplicationFact.submitted_at.is_not(None))
        .group_by(REGION_OF, day))
    return [(region, submitted_on, int(count)) for region, submitted_on, count in rows]


async def oldest_undecided(session: AsyncSession, scope: Scope, limit: int = 10) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(ApplicationFact.application_id, ApplicationFact.region_kato, ApplicationFact.stage,
               ApplicationFact.submitted_at)
        .where(*scope.of_applications(), ApplicationFact.stage.in_(domain.UNDECIDED_STAGES),
               ApplicationFact.submitted_at.is_not(None))
        .order_by(ApplicationFact.submitted_at, ApplicationFact.application_id).limit(limit))
    return [dict(row) for row in rows.mappings()]


async def consent_outcomes(session: AsyncSession, scope: Scope) -> dict[str, int]:
    row = (await session.execute(select(*(
        func.count().filter(ApplicationFact.__table__.c[flag].is_(True)).label(flag)
        for flag in domain.CONSENT_FLAGS)).where(*scope.of_applications()))).mappings().one()
    return {flag.removeprefix("consent_"): int(row[flag]) for flag in domain.CONSENT_FLAGS}


async def fdc_funnel(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    """Per region (two KATO digits) and channel of the invitations (of the quarter invited in)."""
    region = func.substr(InvitationFact.region_kato, 1, 2)
    paid = exists().where(PaymentFact.application_id == InvitationFact.application_id)
    query = (select(region.label("region"), func.coalesce(InvitationFact.channel, "unknown").label("channel"),
                    func.count().label("invited"), func.count(InvitationFact.application_id).label("applied"),
                    func.count().filter(ApplicationFact.eligible.is_(True)).label("approved"),
                    func.count().filter(paid).label("paid"))
             .select_from(InvitationFact)
             .outerjoin(ApplicationFact, ApplicationFact.application_id == InvitationFact.application_id)
             .group_by(region, InvitationFact.channel))
    if scope.quarter:
        query = query.where(InvitationFact.quarter == scope.quarter)
    if scope.region:
        query = query.where(region == scope.region)
    return [{k: (int(v) if k in ("invited", "applied", "approved", "paid") else v) for k, v in row.items()}
            for row in (await session.execute(query)).mappings()]


async def contract_figures(session: AsyncSession, scope: Scope) -> dict[str, int]:
    flags = ("drafted", "signed", "lapsed", "terminated", "completed")
    query = select(*(func.count().filter(ContractFact.__table__.c[flag].is_(True)).label(flag) for flag in flags))
    row = (await session.execute(_joined(query.select_from(ContractFact), ContractFact.application_id,
                                         scope))).mappings().one()
    return {flag: int(row[flag]) for flag in flags}


async def measure_counts(session: AsyncSession, scope: Scope) -> dict[str, int]:
    query = (select(ContractMeasure.measure, func.sum(ContractMeasure.count)).select_from(ContractMeasure)
             .join(ContractFact, ContractFact.contract_id == ContractMeasure.contract_id)
             .group_by(ContractMeasure.measure))
    rows = await session.execute(_joined(query, ContractFact.application_id, scope))
    return {measure: int(count) for measure, count in rows}


async def payment_figures(session: AsyncSession, scope: Scope, *, by: str) -> list[dict[str, Any]]:
    """Per bank (`by` = "bank_code") or per month paid (`by` = "month"), in family months: the
    monthly payments ordered (scheduled) and their tenge; the family months with an order the
    bank settled, or reported failed; the tenge settled."""
    planned_key = PaymentFact.__table__.c[by]
    planned = await session.execute(_paid_in_scope(
        select(planned_key, func.count(), func.coalesce(func.sum(PaymentFact.total), 0))
        .select_from(PaymentFact).group_by(planned_key), PaymentFact.application_id, PaymentFact.month, scope))
    order_key = PaymentOrderFact.__table__.c[by]
    family_month = func.concat(PaymentOrderFact.application_id, "|", PaymentOrderFact.month)
    reported = await session.execute(_paid_in_scope(
        select(order_key,
               func.count(func.distinct(family_month)).filter(PaymentOrderFact.settled.is_(True)),
               func.count(func.distinct(family_month)).filter(PaymentOrderFact.failed.is_(True)),
               func.coalesce(func.sum(PaymentOrderFact.amount).filter(PaymentOrderFact.settled.is_(True)), 0))
        .select_from(PaymentOrderFact).group_by(order_key), PaymentOrderFact.application_id, PaymentOrderFact.month, scope))
    figures: dict[str, dict[str, Any]] = {}

    def row(key: str) -> dict[str, Any]:
        return figures.setdefault(key, {by: key, "ordered": 0, "settled": 0, "failed": 0, "amount_ordered": 0,
                                        "amount_settled": 0})

    for key, count, total in planned:
        row(key).update(ordered=int(count), amount_ordered=int(total))
    for key, settled, failed, total in reported:
        row(key).update(settled=int(settled), failed=int(failed), amount_settled=int(total))
    return [figures[key] for key in sorted(figures)]


async def last_event_at(session: AsyncSession) -> datetime | None:
    """When the projection last took an event in (the latest event time of any row)."""
    return await session.scalar(select(func.greatest(*(
        select(func.max(table.last_event_at)).scalar_subquery()
        for table in (ApplicationFact, ContractFact, PaymentFact, PaymentOrderFact, InvitationFact,
                      ExtensionFact)))))


# ---- rebuilding the projections ----------------------------------------------------------------

PROJECTION_TABLES = ("application_facts", "contract_facts", "contract_measures", "payment_facts", "payment_orders",
                     "invitation_facts", "redrives", "extension_facts")


async def truncate_projections(session: AsyncSession, topics: Sequence[str]) -> None:
    """Empty every projection of the topics, and forget which of their events were handled (the
    inbox rows of those topics): they are all read again. The dead letters and the inbox rows of
    the dead-letter topic stay (an operator's replays are not a projection)."""
    await session.execute(text(f"TRUNCATE {', '.join(PROJECTION_TABLES)}"))
    await session.execute(delete(inbox).where(inbox.c.topic.in_(list(topics))))
