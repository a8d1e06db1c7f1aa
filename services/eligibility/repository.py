"""Every query eligibility makes: parameters, decisions, decisions waiting for a parameter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility.models import ContractTermination, DecisionRecord, ParameterRecord, PendingDecision
from shared.ids import uuid7

# PostgreSQL NOTIFY channel: a parameter value was recorded (every process reloads its cache).
PARAMETERS_CHANNEL = "qamqor_parameters"
# NOTIFY'd when the register is filled other than by decisions (qamqor seed): read it ahead
REGISTER_CHANNEL = "qamqor_register"


# ---- parameters -----------------------------------------------------------------------------

async def all_parameters(session: AsyncSession) -> list[ParameterRecord]:
    return list((await session.execute(select(ParameterRecord).order_by(ParameterRecord.recorded_at))).scalars())


async def parameters(session: AsyncSession, *, name: str | None, regions: Sequence[str | None] | None,
                     valid_on: date | None) -> list[ParameterRecord]:
    """Recorded values, optionally of one name, of the given region levels (None = national) and
    valid on a day (valid_to inclusive)."""
    query = select(ParameterRecord).order_by(ParameterRecord.name, ParameterRecord.region_kato,
                                             ParameterRecord.valid_from, ParameterRecord.recorded_at)
    if name:
        query = query.where(ParameterRecord.name == name)
    if regions is not None:
        codes = [r for r in regions if r is not None]
        levels = [ParameterRecord.region_kato.in_(codes)] if codes else []
        if None in regions:
            levels.append(ParameterRecord.region_kato.is_(None))
        query = query.where(or_(*levels))
    if valid_on is not None:
        query = query.where(ParameterRecord.valid_from <= valid_on,
                            or_(ParameterRecord.valid_to.is_(None), ParameterRecord.valid_to >= valid_on))
    return list((await session.execute(query)).scalars())


async def add_parameter(session: AsyncSession, record: ParameterRecord) -> ParameterRecord:
    session.add(record)
    await session.flush()
    return record


async def announce_parameters_changed(session: AsyncSession) -> None:
    """NOTIFY every listening process; PostgreSQL delivers it only when the transaction commits."""
    await session.execute(text(f"SELECT pg_notify('{PARAMETERS_CHANNEL}', '')"))


# ---- decisions ------------------------------------------------------------------------------

async def decision(session: AsyncSession, decision_id: UUID) -> DecisionRecord | None:
    return await session.get(DecisionRecord, decision_id)


async def has_decision(session: AsyncSession, application_id: UUID) -> bool:
    """Whether the application is decided (asked for every evidence event: only the id is read,
    not the stored input and result)."""
    return await session.scalar(select(DecisionRecord.id).where(DecisionRecord.application_id == application_id)) \
        is not None


_DECISION_COLUMNS = ("id", "application_id", "evidence_id", "decided_at", "rules_version", "case_input", "result")


async def add_decision(session: AsyncSession, record: DecisionRecord) -> DecisionRecord:
    """Store a decision (one INSERT; the record is not attached to the session)."""
    if record.id is None:
        record.id = uuid7()
    await session.execute(insert(DecisionRecord.__table__).values(
        {column: getattr(record, column) for column in _DECISION_COLUMNS}))
    return record


# ---- decisions waiting for a parameter --------------------------------------------------------

async def add_pending(session: AsyncSession, *, application_id: UUID, evidence_event: dict[str, Any],
                      reason: str) -> bool:
    """Park the evidence; False if the application was already waiting."""
    inserted = (await session.execute(
        insert(PendingDecision)
        .values(application_id=application_id, evidence_event=evidence_event, reason=reason[:500])
        .on_conflict_do_nothing()
        .returning(PendingDecision.application_id)
    )).first()
    return inserted is not None


async def remove_pending(session: AsyncSession, application_id: UUID) -> None:
    await session.execute(delete(PendingDecision).where(PendingDecision.application_id == application_id))


async def lock_pending(session: AsyncSession, *, limit: int = 500) -> list[PendingDecision]:
    """The oldest waiting applications, locked for this transaction (others skip them)."""
    return list((await session.execute(
        select(PendingDecision).order_by(PendingDecision.deferred_at).limit(limit)
        .with_for_update(skip_locked=True))).scalars())


# ---- terminated social contracts (the ban, art. 128) ------------------------------------------

async def add_termination(session: AsyncSession, *, contract_id: UUID, iins: Sequence[str], terminated_on: date,
                          reason: str) -> None:
    """Keep a termination for each member (delivered again: nothing changes)."""
    if not iins:
        return
    await session.execute(insert(ContractTermination).values([
        {"contract_id": contract_id, "iin": iin, "terminated_on": terminated_on, "reason": reason}
        for iin in dict.fromkeys(iins)]).on_conflict_do_nothing())


async def latest_termination(session: AsyncSession, iins: Sequence[str], *, on_or_before: date) -> date | None:
    """The latest day on or before `on_or_before` a contract binding any of `iins` was terminated."""
    return await session.scalar(select(func.max(ContractTermination.terminated_on)).where(
        ContractTermination.iin.in_(list(iins)), ContractTermination.terminated_on <= on_or_before))
