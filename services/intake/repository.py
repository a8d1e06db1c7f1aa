"""Every query of intake: applications in and out as the domain's `Application`, the
participating banks, the replica of the policy parameters, and the consent requests with the
decreed business days their deadlines are counted in."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from datetime import date, datetime, timezone
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import Update, and_, bindparam, exists, func, or_, select, text, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by, insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import consent, domain
from services.intake.models import Application as ApplicationRow
from services.intake.models import ApplicationMember as MemberRow
from services.intake.models import BusinessDayDecree as DecreeRow
from services.intake.models import ConsentRequest as ConsentRow
from services.intake.models import ParameterReplica as ParameterRow
from services.intake.models import ParticipatingBank as BankRow
from services.intake.models import Redrive as RedriveRow
from services.intake.models import StatusChange as StatusChangeRow
from shared.business_days import BusinessCalendar, DecreedDay
from shared.db import bound
from shared.parameter_replica_store import keep_replica_value, replica_values

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


def _status_change(application_id: UUID, change: domain.StatusChange) -> dict:
    return {"application_id": application_id, "status": change.status, "at": change.at, "event_id": change.event_id,
            "detail": change.detail}


# The hot path (submit, every flow event, every read of one application) is written with Core
# statements on the tables rather than the ORM: its unit of work, identity map and relationship
# loading cost more CPU than the statements themselves (bench/pipeline, docs/benchmarks.md).
_applications = ApplicationRow.__table__
_members = MemberRow.__table__
_changes = StatusChangeRow.__table__
# One round trip for an application with its members and its timeline: the two lists come as
# JSON arrays of the columns, in their order (a member's birth date as YYYY-MM-DD, a change's
# time as ISO 8601).
_MEMBERS_JSON = (select(func.json_agg(aggregate_order_by(
    func.json_build_array(*(_members.c[c] for c in _MEMBER_COLUMNS)), _members.c.position)))
    .where(_members.c.application_id == _applications.c.id).scalar_subquery())
_TIMELINE_JSON = (select(func.json_agg(aggregate_order_by(
    func.json_build_array(_changes.c.status, _changes.c.at, _changes.c.event_id, _changes.c.detail),
    _changes.c.at, _changes.c.id)))
    .where(_changes.c.application_id == _applications.c.id).scalar_subquery())
_SELECT_APPLICATION = select(*(_applications.c[c] for c in _APPLICATION_COLUMNS),
                             type_coerce(_MEMBERS_JSON, JSONB).label("members"),
                             type_coerce(_TIMELINE_JSON, JSONB).label("timeline"))
# Built once with bind parameters: read with every poll of an application, their cache keys are
# not computed anew each time
_GET_ONE = _SELECT_APPLICATION.where(_applications.c.id == bindparam("the_application"))
_GET_MANY = _SELECT_APPLICATION.where(_applications.c.id.in_(bindparam("the_applications", expanding=True)))
# What `get(for_update=True)` loaded, per session: `save` writes only what changed since, as the
# ORM did (an application's updated_at is when its state last changed; the sweep reads it).
_LOADED = "intake.loaded_applications"


def _member_of(values: list) -> domain.Member:
    iin, full_name, birth_date, sex, relation, phone, employed, full_time_student, disability_group, carer = values
    return domain.Member(iin, full_name, date.fromisoformat(birth_date), sex, relation, phone, employed,
                         full_time_student, disability_group, carer)


def _change_of(values: list) -> domain.StatusChange:
    status, at, event_id, detail = values
    return domain.StatusChange(status, datetime.fromisoformat(at).astimezone(timezone.utc),
                               UUID(event_id) if event_id is not None else None, detail)


# Locked before it is read, in a statement of its own: a statement that waited for the lock sees
# the application's row as the transaction before it left it, but its members and timeline as they
# were when it started (READ COMMITTED). Read after the lock, the timeline holds every step the
# transaction before committed, which following an event relies on (a step held until its decision).
_LOCK_ONE = select(_applications.c.id).where(_applications.c.id == bindparam("the_application")).with_for_update()
_LOCK_MANY = (select(_applications.c.id).where(_applications.c.id.in_(bindparam("the_applications", expanding=True)))
              .order_by(_applications.c.id).with_for_update())


async def get(session: AsyncSession, application_id: UUID, *, for_update: bool = False) -> domain.Application | None:
    if for_update and (await session.execute(_LOCK_ONE, {"the_application": application_id})).first() is None:
        return None
    row = (await session.execute(_GET_ONE, {"the_application": application_id})).first()
    if row is None:
        return None
    application = _application_of(row)
    if for_update:
        session.info.setdefault(_LOADED, {})[application_id] = application
    return application


async def get_many(session: AsyncSession, application_ids: list[UUID]) -> dict[UUID, domain.Application]:
    """`get(for_update=True)` for many applications: locked in the order of their ids, then read
    in one query; by id, the ones that do not exist are absent."""
    await session.execute(_LOCK_MANY, {"the_applications": application_ids})
    rows = await session.execute(_GET_MANY, {"the_applications": application_ids})
    applications = {a.id: a for a in map(_application_of, rows)}
    session.info.setdefault(_LOADED, {}).update(applications)
    return applications


def _application_of(row) -> domain.Application:  # noqa: ANN001 - a row of _SELECT_APPLICATION
    *columns, members, timeline = row
    return domain.Application(
        **dict(zip(_APPLICATION_COLUMNS, columns)),
        members=tuple(_member_of(m) for m in members or ()),
        timeline=tuple(_change_of(c) for c in timeline or ()),
    )


async def active_iins(session: AsyncSession, iins: list[str]) -> set[str]:
    rows = await session.execute(select(MemberRow.iin).where(MemberRow.iin.in_(iins), MemberRow.active.is_(True)))
    return set(rows.scalars())


async def assigned_with_members(session: AsyncSession, iins: Collection[str]) -> list[UUID]:
    """The assigned applications (`domain.ASSIGNED`) these IINs are active members of: those
    whose period may be over, checked at the door before a new submission."""
    rows = await session.execute(
        select(_applications.c.id).distinct()
        .join(_members, _members.c.application_id == _applications.c.id)
        .where(_members.c.iin.in_(list(iins)), _members.c.active.is_(True),
               _applications.c.status.in_(sorted(domain.ASSIGNED))))
    return sorted(rows.scalars())


async def assigned_before(session: AsyncSession, quarter: str, *, limit: int) -> list[UUID]:
    """Up to `limit` assigned applications whose decision's period quarter is before `quarter`
    (YYYY-Qn, so ordered as text), locked, skipping those another transaction holds."""
    rows = await session.execute(
        select(_applications.c.id)
        .where(_applications.c.status.in_(sorted(domain.ASSIGNED)),
               _applications.c.decision["period_quarter"].astext < quarter)
        .order_by(_applications.c.id).limit(limit).with_for_update(skip_locked=True))
    return list(rows.scalars())


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


_INSERT_APPLICATION, _INSERT_MEMBERS, _INSERT_CHANGES = insert(_applications), insert(_members), insert(_changes)


async def add(session: AsyncSession, application: domain.Application) -> None:
    """A new application; MemberOnActiveApplication when a member is on an active one already
    (the unique index on active members decides, so two submissions at once cannot both pass)."""
    members = [{"application_id": application.id, "position": i, "active": application.holds_members,
                **{c: getattr(m, c) for c in _MEMBER_COLUMNS}} for i, m in enumerate(application.members)]
    values = {c: getattr(application, c) for c in _APPLICATION_COLUMNS}
    try:
        # A savepoint: when the unique index on active members refuses the row, the request's
        # transaction stays usable to say which member.
        async with session.begin_nested():
            await session.execute(_INSERT_APPLICATION, values)
            await session.execute(_INSERT_MEMBERS, members)
            await session.execute(_INSERT_CHANGES, [_status_change(application.id, c) for c in application.timeline])
    except IntegrityError as error:
        if ACTIVE_MEMBER_INDEX in str(error.orig):
            raise MemberOnActiveApplication from None  # the error names the IIN: not passed on
        raise


async def save(session: AsyncSession, application: domain.Application, change: domain.StatusChange | None) -> None:
    """Write the application's state back, recording `change` in its timeline: only what changed
    since `get(..., for_update=True)` loaded it in this session."""
    before = session.info.get(_LOADED, {}).get(application.id)
    changed = {name: getattr(application, name) for name in ("status", "decision", "contract_id")
               if before is None or getattr(before, name) != getattr(application, name)}
    if changed:
        await session.execute(_update_application(tuple(changed)), {"the_application": application.id, **changed})
    if before is None or before.holds_members != application.holds_members:
        await session.execute(_UPDATE_MEMBERS, {"the_application": application.id, "active": application.holds_members})
    if change is not None:
        await session.execute(_INSERT_CHANGE, _status_change(application.id, change))
    session.info.setdefault(_LOADED, {})[application.id] = application


async def save_many(session: AsyncSession, applications: list[domain.Application],
                    changes: list[tuple[UUID, domain.StatusChange]]) -> None:
    """`save` for many applications loaded by `get_many` and the changes of their timelines (in
    the order they happened): one statement executed with every row for each kind of write."""
    loaded = session.info.setdefault(_LOADED, {})
    updates: dict[tuple[str, ...], list[dict]] = {}
    members = []
    for application in applications:
        before = loaded.get(application.id)
        changed = {name: getattr(application, name) for name in ("status", "decision", "contract_id")
                   if before is None or getattr(before, name) != getattr(application, name)}
        if changed:
            updates.setdefault(tuple(changed), []).append({"the_application": application.id, **changed})
        if before is None or before.holds_members != application.holds_members:
            members.append({"the_application": application.id, "active": application.holds_members})
        loaded[application.id] = application
    for columns, rows in updates.items():
        await session.execute(_update_application(columns), rows)
    if members:
        await session.execute(_UPDATE_MEMBERS, members)
    if changes:
        await session.execute(_INSERT_CHANGE, [_status_change(application_id, c) for application_id, c in changes])


# Built once, with bound parameters: building a statement for every event cost about as much CPU
# as running it.
_INSERT_CHANGE = insert(_changes).values(bound("application_id", "status", "at", "event_id", "detail"))
_UPDATE_MEMBERS = (update(_members).where(_members.c.application_id == bindparam("the_application"))
                   .values(active=bindparam("active")))


@functools.lru_cache(maxsize=16)
def _update_application(columns: tuple[str, ...]) -> Update:
    return (update(_applications).where(_applications.c.id == bindparam("the_application"))
            .values(bound(*columns) | {"updated_at": func.now()}))


# ---- reference data ---------------------------------------------------------------------------

_banks = BankRow.__table__
_SELECT_BANKS = select(_banks.c.bic, _banks.c.code, _banks.c.name, _banks.c.active).order_by(_banks.c.code, _banks.c.bic)


async def banks(session: AsyncSession) -> dict[str, domain.ParticipatingBank]:
    # Read on every submission: Core rows, not ORM objects.
    return {row.bic: domain.ParticipatingBank(*row) for row in await session.execute(_SELECT_BANKS)}


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


async def parameter_values(session: AsyncSession, *names: str) -> list[domain.ParameterValue]:
    return await replica_values(session, ParameterRow.__table__, *names)


async def add_parameter_value(session: AsyncSession, parameter_id: UUID, value: domain.ParameterValue) -> None:
    await keep_replica_value(session, ParameterRow.__table__, parameter_id, value)


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
        # A family still being asked for its consent waits for a person, not for a lost event
        # (the consent expiry sweep settles it by the deadline).
        .where(~exists().where(ConsentRow.application_id == app.id, ConsentRow.status == consent.REQUESTED))
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


# ---- consent ----------------------------------------------------------------------------------

_CONSENT_COLUMNS = ("id", "application_id", "iin", "phone", "purpose", "assessment_quarter", "controller",
                    "legal_basis", "method", "status", "created_at", "requested_at", "expires_at", "answered_at",
                    "answered_via", "withdrawn_at", "code_salt", "code_hash")


def _consent(row: ConsentRow | Row) -> consent.ConsentRequest:
    return consent.ConsentRequest(**{c: getattr(row, c) for c in _CONSENT_COLUMNS},
                                  data_categories=tuple(row.data_categories), banks=tuple(row.banks))


def _consent_values(request: consent.ConsentRequest) -> dict[str, object]:
    return {c: getattr(request, c) for c in _CONSENT_COLUMNS} | {
        "data_categories": list(request.data_categories), "banks": list(request.banks)}


_consents = ConsentRow.__table__
_INSERT_CONSENTS = insert(_consents)
_SELECT_CONSENTS = select(_consents)
_CONSENTS_OF = (_SELECT_CONSENTS.where(_consents.c.application_id == bindparam("the_application"))
                .order_by(_consents.c.id))
_CONSENTS_FOR_UPDATE = _CONSENTS_OF.with_for_update()


async def add_consents(session: AsyncSession, requests: Collection[consent.ConsentRequest]) -> None:
    # Made with every submission: one INSERT of rows, not an ORM flush.
    if requests:
        await session.execute(_INSERT_CONSENTS, [_consent_values(r) for r in requests])


async def save_consent(session: AsyncSession, request: consent.ConsentRequest) -> None:
    """Write a request's state back (it was loaded to be changed)."""
    row = await session.get_one(ConsentRow, request.id)
    for name, value in _consent_values(request).items():
        setattr(row, name, value)
    await session.flush()


async def get_consent(session: AsyncSession, consent_id: UUID, *,
                  for_update: bool = False) -> consent.ConsentRequest | None:
    query = select(ConsentRow).where(ConsentRow.id == consent_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    return _consent(row) if row else None


async def consents_of(session: AsyncSession, application_id: UUID, *,
                      for_update: bool = False) -> list[consent.ConsentRequest]:
    """An application's consent requests, in the order they were made."""
    # Read with every application shown: Core rows, not ORM objects.
    query = _CONSENTS_FOR_UPDATE if for_update else _CONSENTS_OF
    return [_consent(row) for row in await session.execute(query, {"the_application": application_id})]


async def consents_by_phone(session: AsyncSession, phone: str, *,
                            for_update: bool = False) -> list[consent.ConsentRequest]:
    """The requests sent to `phone` (+7XXXXXXXXXX), of any status: an SMS reply from it is one
    of their answers."""
    query = select(ConsentRow).where(ConsentRow.phone == phone).order_by(ConsentRow.id)
    if for_update:
        query = query.with_for_update()
    return [_consent(row) for row in (await session.execute(query)).scalars()]


async def consents_due_to_expire(session: AsyncSession, *, now: datetime, limit: int) -> list[consent.ConsentRequest]:
    """Open requests whose deadline passed by `now`, earliest first, locked; a request another
    sweep holds is skipped (it is being expired there)."""
    query = (select(ConsentRow).where(ConsentRow.status == consent.REQUESTED, ConsentRow.expires_at <= now)
             .order_by(ConsentRow.expires_at).limit(limit).with_for_update(skip_locked=True))
    return [_consent(row) for row in (await session.execute(query)).scalars()]


async def consents_awaiting_sms(session: AsyncSession, *, limit: int) -> list[consent.ConsentRequest]:
    """Open requests to be asked by SMS whose SMS the gateway has not taken yet, oldest first,
    locked (skipping those another dispatcher holds)."""
    query = (select(ConsentRow).where(ConsentRow.status == consent.REQUESTED, ConsentRow.requested_at.is_(None),
                                      ConsentRow.method == consent.SMS_1414)
             .order_by(ConsentRow.created_at).limit(limit).with_for_update(skip_locked=True))
    return [_consent(row) for row in (await session.execute(query)).scalars()]


async def business_calendar(session: AsyncSession) -> BusinessCalendar:
    """Kazakhstan's business days with the decrees administrators recorded."""
    rows = await session.execute(select(DecreeRow))
    return BusinessCalendar.with_decrees(DecreedDay(r.day, r.working, r.reason) for r in rows.scalars())


async def put_decree(session: AsyncSession, decree: DecreedDay, *, by: str, at: datetime) -> None:
    """Record a decree for its day, replacing one recorded before for the same day."""
    statement = insert(DecreeRow).values(day=decree.day, working=decree.working, reason=decree.reason,
                                         decreed_by=by, decreed_at=at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[DecreeRow.day],
        set_={"working": statement.excluded.working, "reason": statement.excluded.reason,
              "decreed_by": statement.excluded.decreed_by, "decreed_at": statement.excluded.decreed_at}))


async def lock_application(session: AsyncSession, application_id: UUID) -> bool:
    """Hold the application's row until the transaction ends (the changes to its consent
    requests are made one at a time); True when it has been decided."""
    # An undecided application's decision is JSON null (not SQL NULL): the JSONB column's default.
    decided = await session.execute(select(func.jsonb_typeof(ApplicationRow.decision) == "object")
                                    .where(ApplicationRow.id == application_id).with_for_update())
    return bool(decided.scalar_one())
