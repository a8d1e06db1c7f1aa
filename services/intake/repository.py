"""Every query of intake: applications in and out as the domain's `Application`, the
participating banks and the replica of the policy parameters."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.models import Application as ApplicationRow
from services.intake.models import ApplicationMember as MemberRow
from services.intake.models import ParameterReplica as ParameterRow
from services.intake.models import ParticipatingBank as BankRow
from services.intake.models import Redrive as RedriveRow
from services.intake.models import StatusChange as StatusChangeRow

ACTIVE_MEMBER_INDEX = "uq_member_active_iin"
ACTIVE_BANK_CODE_INDEX = "uq_participating_bank_active_code"


class MemberOnActiveApplication(Exception):
    """The database refused the application: a member is already on an active one (another
    submission got there first, between the check and the write)."""


class BankCodeTaken(Exception):
    """Another active bank has this bank code."""

_MEMBER_COLUMNS = ("iin", "full_name", "birth_date", "sex", "relation", "phone", "employed", "full_time_student",
                   "disability_group", "carer")
_APPLICATION_COLUMNS = ("id", "status", "channel", "region_kato", "settlement", "application_date", "extension",
                        "expense_check_consent", "bank_iban", "bank_code", "submitted_by", "submitted_at",
                        "decision", "contract_id")


def _application(row: ApplicationRow) -> domain.Application:
    return domain.Application(
        **{c: getattr(row, c) for c in _APPLICATION_COLUMNS},
        members=tuple(domain.Member(**{c: getattr(m, c) for c in _MEMBER_COLUMNS}) for m in row.members),
        timeline=tuple(domain.StatusChange(c.status, c.at, c.event_id, c.detail) for c in row.timeline),
    )


def _status_change(application_id: UUID, change: domain.StatusChange) -> StatusChangeRow:
    return StatusChangeRow(application_id=application_id, status=change.status, at=change.at,
                           event_id=change.event_id, detail=change.detail)


async def get(session: AsyncSession, application_id: UUID, *, for_update: bool = False) -> domain.Application | None:
    query = select(ApplicationRow).where(ApplicationRow.id == application_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    return _application(row) if row else None


async def active_iins(session: AsyncSession, iins: list[str]) -> set[str]:
    rows = await session.execute(select(MemberRow.iin).where(MemberRow.iin.in_(iins), MemberRow.active.is_(True)))
    return set(rows.scalars())


async def list_recent(session: AsyncSession, *, status: str | None, region_kato: str | None,
                      region_prefixes: Collection[str] | None, members: Collection[str],
                      limit: int) -> list[domain.Application]:
    """The latest applications first. `region_prefixes`: only these regions (None: all);
    `members`: only applications each of these IINs is a member of."""
    if region_prefixes is not None and not region_prefixes:
        return []
    query = select(ApplicationRow).order_by(ApplicationRow.id.desc()).limit(limit)
    if status:
        query = query.where(ApplicationRow.status == status)
    if region_kato:
        query = query.where(ApplicationRow.region_kato == region_kato)
    if region_prefixes is not None:
        query = query.where(func.substr(ApplicationRow.region_kato, 1, 2).in_(sorted(region_prefixes)))
    for iin in members:
        query = query.where(exists().where(MemberRow.application_id == ApplicationRow.id, MemberRow.iin == iin))
    return [_application(row) for row in (await session.execute(query)).scalars()]


async def latest_with_member(session: AsyncSession, iin: str) -> domain.Application | None:
    """The latest application `iin` is a member of."""
    query = (select(ApplicationRow)
             .where(exists().where(MemberRow.application_id == ApplicationRow.id, MemberRow.iin == iin))
             .order_by(ApplicationRow.submitted_at.desc(), ApplicationRow.id.desc()).limit(1))
    row = (await session.execute(query)).scalar_one_or_none()
    return _application(row) if row else None


async def add(session: AsyncSession, application: domain.Application) -> None:
    row = ApplicationRow(
        **{c: getattr(application, c) for c in _APPLICATION_COLUMNS},
        members=[MemberRow(position=i, active=application.holds_members,
                           **{c: getattr(m, c) for c in _MEMBER_COLUMNS}) for i, m in enumerate(application.members)],
        timeline=[_status_change(application.id, change) for change in application.timeline],
    )
    try:
        # A savepoint: when the unique index on active members refuses the row, the request's
        # transaction stays usable to say which member.
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as error:
        if ACTIVE_MEMBER_INDEX in str(error.orig):
            raise MemberOnActiveApplication from None  # the error names the IIN: not passed on
        raise


async def save(session: AsyncSession, application: domain.Application, change: domain.StatusChange | None) -> None:
    """Write the application's state back, recording `change` in its timeline."""
    # The row is in the session already (it was loaded to be changed): no second query.
    row = await session.get_one(ApplicationRow, application.id)
    for name in ("status", "decision", "contract_id"):
        setattr(row, name, getattr(application, name))
    for member in row.members:
        member.active = application.holds_members
    if change is not None:
        row.timeline.append(_status_change(row.id, change))
    await session.flush()


# ---- reference data ---------------------------------------------------------------------------

def _bank(row: BankRow) -> domain.ParticipatingBank:
    return domain.ParticipatingBank(bic=row.bic, code=row.code, name=row.name, active=row.active)


async def banks(session: AsyncSession) -> dict[str, domain.ParticipatingBank]:
    rows = await session.execute(select(BankRow).order_by(BankRow.code, BankRow.bic))
    return {row.bic: _bank(row) for row in rows.scalars()}


async def put_bank(session: AsyncSession, bank: domain.ParticipatingBank, *, by: str,
                   at: datetime) -> bool:
    """Add or change a bank; True if it was added."""
    row = await session.get(BankRow, bank.bic, with_for_update=True)
    added = row is None
    if row is None:
        row = BankRow(bic=bank.bic)
        session.add(row)
    row.code, row.name, row.active, row.updated_by, row.updated_at = bank.code, bank.name, bank.active, by, at
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        if ACTIVE_BANK_CODE_INDEX in str(error.orig):
            raise BankCodeTaken from None
        raise
    return added


async def parameter_values(session: AsyncSession, name: str) -> list[domain.ParameterValue]:
    rows = await session.execute(select(ParameterRow).where(ParameterRow.name == name))
    return [domain.ParameterValue(name=r.name, region_kato=r.region_kato, valid_from=r.valid_from,
                                  valid_to=r.valid_to, value=tuple(r.value) if isinstance(r.value, list) else r.value,
                                  recorded_at=r.recorded_at) for r in rows.scalars()]


async def add_parameter_value(session: AsyncSession, parameter_id: UUID, value: domain.ParameterValue) -> None:
    """Keep a value; one announced twice is kept once."""
    await session.execute(insert(ParameterRow).values(
        parameter_id=parameter_id, name=value.name, region_kato=value.region_kato, valid_from=value.valid_from,
        valid_to=value.valid_to, value=list(value.value) if isinstance(value.value, tuple) else value.value,
        recorded_at=value.recorded_at,
    ).on_conflict_do_nothing(index_elements=["parameter_id"]))


# ---- reconciliation ---------------------------------------------------------------------------

class StuckApplication(NamedTuple):
    application_id: UUID
    status: str
    since: datetime  # when it reached the status (its last change)
    decision_kind: str | None  # conditional | unconditional, once decided
    redrives: int  # re-drives of this status so far


async def lock_sweep(session: AsyncSession) -> bool:
    """Only one process sweeps at a time: False when another holds the sweep (until its
    transaction ends)."""
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext('qamqor_reconciliation'))")))


async def stuck_applications(session: AsyncSession, *, cutoffs: Mapping[str, datetime], now: datetime,
                             max_redrives: int, limit: int) -> list[StuckApplication]:
    """Applications in one of `cutoffs`' statuses since before its cutoff, whose next re-drive
    of that status is due at `now` (none yet, or fewer than `max_redrives` and due), longest
    stuck first."""
    if not cutoffs:
        return []
    app, redrive = ApplicationRow, RedriveRow
    rows = await session.execute(
        select(app.id, app.status, app.updated_at, app.decision["kind"].astext, func.coalesce(redrive.attempts, 0))
        .outerjoin(redrive, and_(redrive.application_id == app.id, redrive.status == app.status))
        .where(or_(*(and_(app.status == status, app.updated_at < cutoff) for status, cutoff in cutoffs.items())))
        .where(or_(redrive.application_id.is_(None),
                   and_(redrive.attempts < max_redrives, redrive.next_due_at <= now)))
        .order_by(app.updated_at).limit(limit))
    return [StuckApplication(*row) for row in rows]


async def record_redrive(session: AsyncSession, *, application_id: UUID, status: str, attempt: int, at: datetime,
                         next_due_at: datetime) -> None:
    statement = insert(RedriveRow).values(application_id=application_id, status=status, attempts=attempt,
                                          first_at=at, last_at=at, next_due_at=next_due_at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[RedriveRow.application_id, RedriveRow.status],
        set_={"attempts": statement.excluded.attempts, "last_at": statement.excluded.last_at,
              "next_due_at": statement.excluded.next_due_at}))
