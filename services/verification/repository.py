"""Every query of verification: evidence in and out as the domain's `Evidence`, and the
applications waiting for an external system as the domain's `Waiting`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification import domain, expenses
from services.verification.models import BankRequestRow, ExpenseCheck
from services.verification.models import Evidence as EvidenceRow
from services.verification.models import WaitingApplication as WaitingRow
from shared.db import bound
from shared.events.contracts import ExpenseFacts, FamilyMember, IncomeRecord, PurchaseRecord


# The statements run for every application (gathering, consent events, bank requests and answers)
# are Core statements on the tables, built once with bound parameters and executed with parameter
# dicts: building an ORM statement, its cache key and its unit of work for every call cost more
# CPU than running it (bench/pipeline/micro.py verification). A None for a JSONB column is stored
# as JSON null, as the ORM statements before them stored it.
_evidence = EvidenceRow.__table__
_waiting_rows = WaitingRow.__table__
_checks = ExpenseCheck.__table__
_requests = BankRequestRow.__table__

_EVIDENCE_COLUMNS = ("id", "application_id", "assessment_quarter", "members", "incomes", "sources", "collected_at",
                     "region_kato", "purchases", "expenses", "consents", "bank_answers")
_SELECT_EVIDENCE = select(*(_evidence.c[c] for c in _EVIDENCE_COLUMNS)).where(
    _evidence.c.application_id == bindparam("the_application"))
_INSERT_EVIDENCE = insert(_evidence).values(bound(*_EVIDENCE_COLUMNS))


async def by_application(session: AsyncSession, application_id: UUID) -> domain.Evidence | None:
    row = (await session.execute(_SELECT_EVIDENCE, {"the_application": application_id})).first()
    if row is None:
        return None
    return domain.Evidence(
        id=row.id, application_id=row.application_id, assessment_quarter=row.assessment_quarter,
        members=tuple(FamilyMember.model_validate(m) for m in row.members),
        incomes=tuple(IncomeRecord.model_validate(i) for i in row.incomes),
        sources=row.sources, collected_at=row.collected_at, region_kato=row.region_kato,
        purchases=tuple(PurchaseRecord.model_validate(p) for p in row.purchases),
        expenses=None if row.expenses is None else ExpenseFacts.model_validate(row.expenses),
        consents=tuple(row.consents), bank_answers=tuple(row.bank_answers),
    )


async def add(session: AsyncSession, evidence: domain.Evidence) -> None:
    await session.execute(_INSERT_EVIDENCE, {
        "id": evidence.id, "application_id": evidence.application_id,
        "assessment_quarter": evidence.assessment_quarter,
        "members": [m.model_dump(mode="json") for m in evidence.members],
        "incomes": [i.model_dump(mode="json") for i in evidence.incomes],
        "sources": evidence.sources, "collected_at": evidence.collected_at, "region_kato": evidence.region_kato,
        "purchases": [p.model_dump(mode="json") for p in evidence.purchases],
        "expenses": None if evidence.expenses is None else evidence.expenses.model_dump(mode="json"),
        "consents": list(evidence.consents), "bank_answers": list(evidence.bank_answers)})


# ---- applications waiting for an external system ------------------------------------------

_WAITING_COLUMNS = ("application_id", "system", "since", "attempts", "next_attempt_at", "last_error")


def _waiting(row: Row) -> domain.Waiting:
    return domain.Waiting(application_id=row.application_id, system=row.system, since=row.since,
                          attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error)


_the_application = bindparam("the_application")
_PROGRESS = select(exists().where(_evidence.c.application_id == _the_application)
                   | exists().where(_checks.c.application_id == _the_application),
                   exists().where(_waiting_rows.c.application_id == _the_application))


async def progress(session: AsyncSession, application_id: UUID) -> tuple[bool, bool]:
    """(its evidence is frozen or its expense check begun, it waits for a system), in one round trip."""
    row = (await session.execute(_PROGRESS, {"the_application": application_id})).one()
    return bool(row[0]), bool(row[1])


_START_WAITING = (insert(_waiting_rows).values(bound(*_WAITING_COLUMNS, "submitted_event"))
                  .on_conflict_do_nothing().returning(_waiting_rows.c.application_id))


async def start_waiting(session: AsyncSession, waiting: domain.Waiting, submitted_event: dict[str, Any]) -> bool:
    """Park the application; False if it was waiting already."""
    inserted = await session.execute(_START_WAITING, {
        "application_id": waiting.application_id, "submitted_event": submitted_event, "system": waiting.system,
        "since": waiting.since, "attempts": waiting.attempts, "next_attempt_at": waiting.next_attempt_at,
        "last_error": waiting.last_error[:500]})
    return inserted.first() is not None


async def due(session: AsyncSession, now: datetime, limit: int) -> list[UUID]:
    """The waiting applications due to be tried at `now`, longest due first."""
    return list((await session.execute(
        select(WaitingRow.application_id).where(WaitingRow.next_attempt_at <= now)
        .order_by(WaitingRow.next_attempt_at).limit(limit))).scalars())


_LOCK_WAITING = (select(*(_waiting_rows.c[c] for c in _WAITING_COLUMNS), _waiting_rows.c.submitted_event)
                 .where(_waiting_rows.c.application_id == bindparam("the_application"))
                 .with_for_update(skip_locked=True))
_SAVE_WAITING = (update(_waiting_rows).where(_waiting_rows.c.application_id == bindparam("the_application"))
                 .values(bound("attempts", "next_attempt_at", "last_error")))
_STOP_WAITING = delete(_waiting_rows).where(_waiting_rows.c.application_id == bindparam("the_application"))


async def lock_waiting(session: AsyncSession, application_id: UUID) -> tuple[domain.Waiting, dict[str, Any]] | None:
    """The waiting application and its submitted event, locked for this transaction; None when
    it waits no more or another process is trying it."""
    row = (await session.execute(_LOCK_WAITING, {"the_application": application_id})).first()
    return None if row is None else (_waiting(row), row.submitted_event)


async def save_waiting(session: AsyncSession, waiting: domain.Waiting) -> None:
    await session.execute(_SAVE_WAITING, {"the_application": waiting.application_id, "attempts": waiting.attempts,
                                          "next_attempt_at": waiting.next_attempt_at,
                                          "last_error": waiting.last_error[:500]})


async def stop_waiting(session: AsyncSession, application_id: UUID) -> None:
    await session.execute(_STOP_WAITING, {"the_application": application_id})


async def make_due(session: AsyncSession, system: str, now: datetime) -> int:
    """`system` answers again: every application waiting for it is due now."""
    result = await session.execute(
        update(WaitingRow).where(WaitingRow.system == system, WaitingRow.next_attempt_at > now)
        .values(next_attempt_at=now))
    return result.rowcount or 0


async def next_attempt_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.min(WaitingRow.next_attempt_at)))


async def waiting_per_system(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(WaitingRow.system, func.count()).group_by(WaitingRow.system))
    return {system: count for system, count in rows}


# ---- the expense check (services/verification/expenses.py) -----------------------------------

_CHECK_STATE = ("family_consent", "consents", "gathered", "banks_asked_at", "bank_deadline", "overdue_at", "frozen")


def _gathered(data: dict[str, Any] | None) -> expenses.Gathered | None:
    if data is None:
        return None
    return expenses.Gathered(incomes=tuple(IncomeRecord.model_validate(i) for i in data["incomes"]),
                             purchases=tuple(PurchaseRecord.model_validate(p) for p in data["purchases"]),
                             sources=data["sources"])


def _check(row: Row) -> expenses.Check:
    return expenses.Check(application_id=row.application_id, consent_required=row.consent_required,
                          family_consent=row.family_consent, consents=row.consents, gathered=_gathered(row.gathered),
                          banks_asked_at=row.banks_asked_at, bank_deadline=row.bank_deadline,
                          overdue_at=row.overdue_at, frozen=row.frozen)


_OPEN_CHECK = (insert(_checks)
               .values(bound("application_id", "submitted_event", "consent_required", "family_consent", "consents",
                             "gathered", "frozen"))
               .on_conflict_do_nothing().returning(_checks.c.application_id))
_LOCK_CHECK = (select(_checks.c.application_id, _checks.c.submitted_event, _checks.c.consent_required,
                      *(_checks.c[c] for c in _CHECK_STATE))
               .where(_checks.c.application_id == bindparam("the_application")).with_for_update())
_SAVE_CHECK = (update(_checks).where(_checks.c.application_id == bindparam("the_application"))
               .values(bound(*_CHECK_STATE)))


async def open_check(session: AsyncSession, check: expenses.Check, submitted_event: dict[str, Any]) -> bool:
    """The application's check, begun when its submission is first handled (kept if it exists).
    True when this transaction wrote it: the row is `check` as given, and locked by it."""
    inserted = await session.execute(_OPEN_CHECK, {
        "application_id": check.application_id, "submitted_event": submitted_event,
        "consent_required": check.consent_required, "family_consent": check.family_consent, "consents": {},
        "gathered": None, "frozen": False})
    return inserted.first() is not None


async def lock_check(session: AsyncSession, application_id: UUID) -> tuple[expenses.Check, dict[str, Any]] | None:
    """The check and its submitted event, locked for this transaction (waiting for another
    holder: consent events, callbacks and the overdue sweep of one application take turns)."""
    row = (await session.execute(_LOCK_CHECK, {"the_application": application_id})).first()
    return None if row is None else (_check(row), row.submitted_event)


async def save_check(session: AsyncSession, check: expenses.Check) -> None:
    gathered = None if check.gathered is None else {
        "incomes": [i.model_dump(mode="json") for i in check.gathered.incomes],
        "purchases": [p.model_dump(mode="json") for p in check.gathered.purchases],
        "sources": check.gathered.sources}
    await session.execute(_SAVE_CHECK, {
        "the_application": check.application_id, "family_consent": check.family_consent, "consents": check.consents,
        "gathered": gathered, "banks_asked_at": check.banks_asked_at, "bank_deadline": check.bank_deadline,
        "overdue_at": check.overdue_at, "frozen": check.frozen})


_REQUEST_COLUMNS = ("id", "application_id", "bank_code", "iin", "quarter", "created_at", "acknowledged_at",
                    "answered_at", "answer", "attempts")


def _request(row: Row) -> expenses.BankRequest:
    return expenses.BankRequest(
        id=row.id, application_id=row.application_id, bank_code=row.bank_code, iin=row.iin, quarter=row.quarter,
        created_at=row.created_at, acknowledged_at=row.acknowledged_at, answered_at=row.answered_at,
        answer=None if row.answer is None else expenses.BankAnswer.from_json(row.answer), attempts=row.attempts)


_SELECT_REQUESTS = select(*(_requests.c[c] for c in _REQUEST_COLUMNS))
_REQUESTS_OF = (_SELECT_REQUESTS.where(_requests.c.application_id == bindparam("the_application"))
                .order_by(_requests.c.created_at, _requests.c.id))
_APPLICATION_OF_REQUEST = select(_requests.c.application_id).where(_requests.c.id == bindparam("the_request"))
_ADD_REQUESTS = (insert(_requests)
                 .values(bound("id", "application_id", "bank_code", "iin", "quarter", "created_at", "attempts",
                               "next_attempt_at"))
                 .on_conflict_do_nothing())
_answered_at = bindparam("answered_at", type_=_requests.c.answered_at.type)
_SAVE_ANSWER = (update(_requests).where(_requests.c.id == bindparam("the_request"))
                .values(answered_at=_answered_at, answer=bindparam("answer"),
                        acknowledged_at=func.coalesce(_requests.c.acknowledged_at, _answered_at),
                        next_attempt_at=None))


async def bank_requests(session: AsyncSession, application_id: UUID) -> list[expenses.BankRequest]:
    rows = await session.execute(_REQUESTS_OF, {"the_application": application_id})
    return [_request(row) for row in rows]


async def application_of_request(session: AsyncSession, request_id: UUID) -> UUID | None:
    """The application a bank request was made for; None when there is no such request."""
    return (await session.execute(_APPLICATION_OF_REQUEST, {"the_request": request_id})).scalar_one_or_none()


async def add_bank_requests(session: AsyncSession, requests: list[expenses.BankRequest]) -> None:
    """New requests (one per person and bank; an existing one is kept with its id)."""
    if requests:
        # One statement, built once, executed with every row (asyncpg's executemany).
        await session.execute(_ADD_REQUESTS, [
            {"id": r.id, "application_id": r.application_id, "bank_code": r.bank_code, "iin": r.iin,
             "quarter": r.quarter, "created_at": r.created_at, "attempts": 0, "next_attempt_at": r.created_at}
            for r in requests])


async def save_answer(session: AsyncSession, request: expenses.BankRequest) -> expenses.BankRequest:
    """The bank's answer to the request (which it plainly received, whatever the dispatcher saw);
    returns the request as saved (one not yet acknowledged is acknowledged by its answer)."""
    await session.execute(_SAVE_ANSWER, {"the_request": request.id, "answered_at": request.answered_at,
                                         "answer": None if request.answer is None else request.answer.as_json()})
    return request if request.acknowledged_at is not None else replace(request, acknowledged_at=request.answered_at)


async def requests_to_send(session: AsyncSession, now: datetime, limit: int) -> list[expenses.BankRequest]:
    """Requests not yet acknowledged by their bank and due to be sent at `now`, of checks not
    frozen (a family whose consent was withdrawn meanwhile is not asked about)."""
    rows = await session.execute(
        _SELECT_REQUESTS
        .where(_requests.c.acknowledged_at.is_(None), _requests.c.next_attempt_at <= now,
               exists().where(_checks.c.application_id == _requests.c.application_id,
                              _checks.c.frozen.is_(False)))
        .order_by(_requests.c.next_attempt_at).limit(limit))
    return [_request(row) for row in rows]


_ACKNOWLEDGED = (update(_requests).where(_requests.c.id == bindparam("the_request"),
                                         _requests.c.acknowledged_at.is_(None))
                 .values(acknowledged_at=bindparam("acknowledged_at"), next_attempt_at=None, last_error=None))
_SEND_FAILED = (update(_requests).where(_requests.c.id == bindparam("the_request"))
                .values(attempts=_requests.c.attempts + 1, next_attempt_at=bindparam("next_attempt_at"),
                        last_error=bindparam("last_error")))


async def acknowledged(session: AsyncSession, request_id: UUID, at: datetime) -> None:
    await session.execute(_ACKNOWLEDGED, {"the_request": request_id, "acknowledged_at": at})


async def send_failed(session: AsyncSession, request_id: UUID, *, error: str, next_attempt_at: datetime | None) -> None:
    """The bank could not take the request: tried again at `next_attempt_at` (None: never, the
    bank refused it; the application then becomes overdue at its deadline, visibly)."""
    await session.execute(_SEND_FAILED, {"the_request": request_id, "next_attempt_at": next_attempt_at,
                                         "last_error": error[:500]})


async def next_send_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.min(BankRequestRow.next_attempt_at))
                                .where(BankRequestRow.acknowledged_at.is_(None)))


async def overdue_candidates(session: AsyncSession, now: datetime, limit: int) -> list[UUID]:
    """Checks past their bank deadline, not frozen and not yet announced overdue."""
    return list((await session.execute(
        select(ExpenseCheck.application_id)
        .where(ExpenseCheck.bank_deadline <= now, ExpenseCheck.overdue_at.is_(None), ExpenseCheck.frozen.is_(False))
        .order_by(ExpenseCheck.bank_deadline).limit(limit))).scalars())


async def overdue_count(session: AsyncSession) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(ExpenseCheck)
        .where(ExpenseCheck.overdue_at.is_not(None), ExpenseCheck.frozen.is_(False))) or 0)
