"""Every query of verification: evidence in and out as the domain's `Evidence`, and the
applications waiting for an external system as the domain's `Waiting`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification import domain, expenses
from services.verification.models import BankRequestRow, ExpenseCheck
from services.verification.models import Evidence as EvidenceRow
from services.verification.models import WaitingApplication as WaitingRow
from shared.events.contracts import ExpenseFacts, FamilyMember, IncomeRecord, PurchaseRecord


async def by_application(session: AsyncSession, application_id: UUID) -> domain.Evidence | None:
    row = (await session.execute(
        select(EvidenceRow).where(EvidenceRow.application_id == application_id))).scalar_one_or_none()
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
    session.add(EvidenceRow(
        id=evidence.id, application_id=evidence.application_id, assessment_quarter=evidence.assessment_quarter,
        members=[m.model_dump(mode="json") for m in evidence.members],
        incomes=[i.model_dump(mode="json") for i in evidence.incomes],
        sources=evidence.sources, collected_at=evidence.collected_at, region_kato=evidence.region_kato,
        purchases=[p.model_dump(mode="json") for p in evidence.purchases],
        expenses=None if evidence.expenses is None else evidence.expenses.model_dump(mode="json"),
        consents=list(evidence.consents), bank_answers=list(evidence.bank_answers),
    ))
    await session.flush()


# ---- applications waiting for an external system ------------------------------------------

def _waiting(row: WaitingRow) -> domain.Waiting:
    return domain.Waiting(application_id=row.application_id, system=row.system, since=row.since,
                          attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error)


async def progress(session: AsyncSession, application_id: UUID) -> tuple[bool, bool]:
    """(its evidence is frozen or its expense check begun, it waits for a system), in one round trip."""
    row = (await session.execute(select(exists().where(EvidenceRow.application_id == application_id)
                                        | exists().where(ExpenseCheck.application_id == application_id),
                                        exists().where(WaitingRow.application_id == application_id)))).one()
    return bool(row[0]), bool(row[1])


async def start_waiting(session: AsyncSession, waiting: domain.Waiting, submitted_event: dict[str, Any]) -> bool:
    """Park the application; False if it was waiting already."""
    inserted = await session.execute(
        insert(WaitingRow)
        .values(application_id=waiting.application_id, submitted_event=submitted_event, system=waiting.system,
                since=waiting.since, attempts=waiting.attempts, next_attempt_at=waiting.next_attempt_at,
                last_error=waiting.last_error[:500])
        .on_conflict_do_nothing()
        .returning(WaitingRow.application_id))
    return inserted.first() is not None


async def due(session: AsyncSession, now: datetime, limit: int) -> list[UUID]:
    """The waiting applications due to be tried at `now`, longest due first."""
    return list((await session.execute(
        select(WaitingRow.application_id).where(WaitingRow.next_attempt_at <= now)
        .order_by(WaitingRow.next_attempt_at).limit(limit))).scalars())


async def lock_waiting(session: AsyncSession, application_id: UUID) -> tuple[domain.Waiting, dict[str, Any]] | None:
    """The waiting application and its submitted event, locked for this transaction; None when
    it waits no more or another process is trying it."""
    row = (await session.execute(
        select(WaitingRow).where(WaitingRow.application_id == application_id)
        .with_for_update(skip_locked=True))).scalar_one_or_none()
    return None if row is None else (_waiting(row), row.submitted_event)


async def save_waiting(session: AsyncSession, waiting: domain.Waiting) -> None:
    await session.execute(
        update(WaitingRow).where(WaitingRow.application_id == waiting.application_id)
        .values(attempts=waiting.attempts, next_attempt_at=waiting.next_attempt_at, last_error=waiting.last_error[:500]))


async def stop_waiting(session: AsyncSession, application_id: UUID) -> None:
    await session.execute(delete(WaitingRow).where(WaitingRow.application_id == application_id))


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

def _gathered(data: dict[str, Any] | None) -> expenses.Gathered | None:
    if data is None:
        return None
    return expenses.Gathered(incomes=tuple(IncomeRecord.model_validate(i) for i in data["incomes"]),
                             purchases=tuple(PurchaseRecord.model_validate(p) for p in data["purchases"]),
                             sources=data["sources"])


def _check(row: ExpenseCheck) -> expenses.Check:
    return expenses.Check(application_id=row.application_id, consent_required=row.consent_required,
                          family_consent=row.family_consent, consents=row.consents, gathered=_gathered(row.gathered),
                          banks_asked_at=row.banks_asked_at, bank_deadline=row.bank_deadline,
                          overdue_at=row.overdue_at, frozen=row.frozen)


async def open_check(session: AsyncSession, check: expenses.Check, submitted_event: dict[str, Any]) -> None:
    """The application's check, begun when its submission is first handled (kept if it exists)."""
    await session.execute(
        insert(ExpenseCheck)
        .values(application_id=check.application_id, submitted_event=submitted_event,
                consent_required=check.consent_required, family_consent=check.family_consent, consents={},
                gathered=None, frozen=False)
        .on_conflict_do_nothing())


async def lock_check(session: AsyncSession, application_id: UUID) -> tuple[expenses.Check, dict[str, Any]] | None:
    """The check and its submitted event, locked for this transaction (waiting for another
    holder: consent events, callbacks and the overdue sweep of one application take turns)."""
    row = (await session.execute(
        select(ExpenseCheck).where(ExpenseCheck.application_id == application_id).with_for_update())
    ).scalar_one_or_none()
    return None if row is None else (_check(row), row.submitted_event)


async def save_check(session: AsyncSession, check: expenses.Check) -> None:
    gathered = None if check.gathered is None else {
        "incomes": [i.model_dump(mode="json") for i in check.gathered.incomes],
        "purchases": [p.model_dump(mode="json") for p in check.gathered.purchases],
        "sources": check.gathered.sources}
    await session.execute(
        update(ExpenseCheck).where(ExpenseCheck.application_id == check.application_id)
        .values(family_consent=check.family_consent, consents=check.consents, gathered=gathered,
                banks_asked_at=check.banks_asked_at, bank_deadline=check.bank_deadline,
                overdue_at=check.overdue_at, frozen=check.frozen))


def _request(row: BankRequestRow) -> expenses.BankRequest:
    return expenses.BankRequest(
        id=row.id, application_id=row.application_id, bank_code=row.bank_code, iin=row.iin, quarter=row.quarter,
        created_at=row.created_at, acknowledged_at=row.acknowledged_at, answered_at=row.answered_at,
        answer=None if row.answer is None else expenses.BankAnswer.from_json(row.answer), attempts=row.attempts)


async def bank_requests(session: AsyncSession, application_id: UUID) -> list[expenses.BankRequest]:
    rows = await session.execute(select(BankRequestRow).where(BankRequestRow.application_id == application_id)
                                 .order_by(BankRequestRow.created_at, BankRequestRow.id))
    return [_request(row) for row in rows.scalars()]


async def bank_request(session: AsyncSession, request_id: UUID) -> expenses.BankRequest | None:
    row = await session.get(BankRequestRow, request_id)
    return None if row is None else _request(row)


async def add_bank_requests(session: AsyncSession, requests: list[expenses.BankRequest]) -> None:
    """New requests (one per person and bank; an existing one is kept with its id)."""
    if requests:
        await session.execute(insert(BankRequestRow).values([
            {"id": r.id, "application_id": r.application_id, "bank_code": r.bank_code, "iin": r.iin,
             "quarter": r.quarter, "created_at": r.created_at, "attempts": 0, "next_attempt_at": r.created_at}
            for r in requests]).on_conflict_do_nothing())


async def save_answer(session: AsyncSession, request: expenses.BankRequest) -> None:
    """The bank's answer to the request (which it plainly received, whatever the dispatcher saw)."""
    await session.execute(
        update(BankRequestRow).where(BankRequestRow.id == request.id)
        .values(answered_at=request.answered_at, answer=None if request.answer is None else request.answer.as_json(),
                acknowledged_at=func.coalesce(BankRequestRow.acknowledged_at, request.answered_at),
                next_attempt_at=None))


async def requests_to_send(session: AsyncSession, now: datetime, limit: int) -> list[expenses.BankRequest]:
    """Requests not yet acknowledged by their bank and due to be sent at `now`, of checks not
    frozen (a family whose consent was withdrawn meanwhile is not asked about)."""
    rows = await session.execute(
        select(BankRequestRow)
        .where(BankRequestRow.acknowledged_at.is_(None), BankRequestRow.next_attempt_at <= now,
               exists().where(ExpenseCheck.application_id == BankRequestRow.application_id,
                              ExpenseCheck.frozen.is_(False)))
        .order_by(BankRequestRow.next_attempt_at).limit(limit))
    return [_request(row) for row in rows.scalars()]


async def acknowledged(session: AsyncSession, request_id: UUID, at: datetime) -> None:
    await session.execute(update(BankRequestRow).where(BankRequestRow.id == request_id,
                                                       BankRequestRow.acknowledged_at.is_(None))
                          .values(acknowledged_at=at, next_attempt_at=None, last_error=None))


async def send_failed(session: AsyncSession, request_id: UUID, *, error: str, next_attempt_at: datetime | None) -> None:
    """The bank could not take the request: tried again at `next_attempt_at` (None: never, the
    bank refused it; the application then becomes overdue at its deadline, visibly)."""
    await session.execute(update(BankRequestRow).where(BankRequestRow.id == request_id)
                          .values(attempts=BankRequestRow.attempts + 1, next_attempt_at=next_attempt_at,
                                  last_error=error[:500]))


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
