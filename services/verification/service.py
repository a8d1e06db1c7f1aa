"""Verification use cases: gather and freeze the evidence for an application — waiting out an
external system that is down — and show it."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from prometheus_client import Counter, Gauge
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.verification import domain, expenses, repository
from services.verification.adapters import (
    AccountsRegistry,
    AssetRegistry,
    BankOpenApi,
    IncomeRegistry,
    RegistryError,
    RegistryUnavailable,
)
from services.verification.schemas import CashflowIn, CashflowOut, EvidenceOut
from shared.access import FamilyAccess, family_access, note_data_subjects
from shared.business_days import BusinessCalendar
from shared.calendar import Quarter, utcnow
from shared.consumer import PermanentError
from shared.errors import Conflict, Forbidden, NotFound, field_error
from shared.events import Envelope
from shared.events.contracts import (
    TOPICS,
    ApplicationSubmitted,
    ConsentExpired,
    ConsentGranted,
    ConsentRefused,
    ConsentRequested,
    ConsentWithdrawn,
    ExpenseFacts,
    PurchaseRecord,
)
from shared.identity import Caller
from shared.iin import mask_iins_in
from shared.ids import uuid7
from shared.outbox import emit
from shared.redrive import dead_letter

SOURCE = "verification"
log = logging.getLogger("qamqor.verification")

WAITING = Gauge("qamqor_applications_waiting", "Applications waiting for an external system that is down",
                ["service", "system"])
OVERDUE = Gauge("qamqor_verifications_overdue",
                "Applications whose bank has not answered by the deadline (never decided on missing data)", ["service"])
ConsentEvent = ConsentRequested | ConsentGranted | ConsentRefused | ConsentExpired | ConsentWithdrawn
GIVEN_UP = Counter("qamqor_applications_given_up_total",
                   "Applications given up on after waiting the configured time for an external system "
                   "(each is a dead letter)", ["service", "system"])


class Availability:
    """What this process last saw of each external system. One whose last call failed, with none
    answered since, is down for now: the consumer parks new applications without calling it (a
    consumer never waits on a system known to be down), and the retry loop, which does call it,
    finds out when it is back. In memory: a new process learns it from its first call."""

    def __init__(self) -> None:
        self._down: set[str] = set()

    def is_down(self, system: str) -> bool:
        return system in self._down

    def failed(self, system: str) -> None:
        self._down.add(system)

    def answered(self, system: str) -> None:
        self._down.discard(system)


# ---- gathering evidence -----------------------------------------------------------------------

@dataclass(frozen=True)
class Registries:
    """Every external system verification asks (services/verification/adapters.py)."""

    income: IncomeRegistry
    accounts: AccountsRegistry
    real_estate: AssetRegistry
    vehicles: AssetRegistry
    banks: BankOpenApi
    callback_url: Callable[[str], str]  # the gateway's callback route for a bank code
    # Called once bank requests are committed: the dispatcher in this process sends them now.
    requests_written: Callable[[], None] = lambda: None


async def _asked(system: str, availability: Availability, call: Awaitable[Any]) -> Any:
    try:
        answer = await call
    except RegistryUnavailable as outage:
        availability.failed(outage.system)
        raise
    availability.answered(system)
    return answer


async def _gather(registries: Registries, submitted: ApplicationSubmitted, availability: Availability,
                  ) -> expenses.Gathered:
    """The registries' facts on the family over the assessment quarter: incomes, and — when its
    expenses are checked — the homes and vehicles bought, with where and when each was fetched."""
    quarter = domain.quarter_to_assess(submitted)
    members = submitted.members
    income = registries.income
    iins = [m.iin for m in members]
    per_member = await _asked(income.system, availability, income.incomes_of(iins, quarter))
    sources: dict[str, Any] = {income.system: {"quarter": str(quarter), "members_queried": len(members),
                                               "fetched_at": utcnow().isoformat()}}
    purchases: list[PurchaseRecord] = []
    if submitted.consent_required:
        for registry in (registries.real_estate, registries.vehicles):
            found = await _asked(registry.system, availability, registry.purchases_of(iins, quarter))
            purchases += [PurchaseRecord(iin=m.iin, registry=p.registry, kind=p.kind, date=p.date)  # type: ignore[arg-type]
                          for m, bought in zip(members, found) for p in bought]
            sources[registry.system] = {"quarter": str(quarter), "members_queried": len(members),
                                        "fetched_at": utcnow().isoformat()}
    return expenses.Gathered(incomes=tuple(i for incomes in per_member for i in incomes),
                             purchases=tuple(purchases), sources=sources)


async def gather_evidence(session: AsyncSession, envelope: Envelope, *, registries: Registries,
                          policy: domain.OutagePolicy, availability: Availability, bank_deadline_days: int,
                          on_waiting: Callable[[], None] = lambda: None) -> None:
    """The registries' facts on the family, and then what the expense check needs next
    (`_advance`). When a system is down the application waits (and `on_waiting` is called once
    that is committed): the event is done with, and the retry loop (`retry_waiting`) takes it
    from here."""
    submitted: ApplicationSubmitted = envelope.payload()  # type: ignore[assignment]
    application_id = submitted.application.application_id
    begun, waits = await repository.progress(session, application_id)
    if begun:
        return  # evidence is gathered once: a repeat does not ask the registries again
    if waits:
        return  # a repeat of an application that waits: the retry loop has it
    submitted_event = envelope.model_dump(mode="json")
    check = expenses.Check(application_id, submitted.consent_required)
    # Written by this transaction, the row is `check` and this event, locked by it: not read again
    # (written by another one meanwhile, it is locked and read as a consent event would read it).
    opened = await repository.open_check(session, check, submitted_event)
    locked, parsed = ((check, submitted_event), (envelope, submitted)) if opened else (None, None)
    system = registries.income.system
    if availability.is_down(system):
        # Not called from here: a consumer must not wait for a system known to be down. The
        # retry loop tries it at once.
        await _start_waiting(session, envelope, application_id, system=system, error=f"not called: {system} is down",
                             tried=False, policy=policy, on_waiting=on_waiting)
        return
    await _resume_or_wait(session, envelope, application_id, registries=registries, policy=policy,
                          availability=availability, bank_deadline_days=bank_deadline_days, on_waiting=on_waiting,
                          locked=locked, parsed=parsed)


async def _resume_or_wait(session: AsyncSession, envelope: Envelope, application_id: UUID, *,
                          registries: Registries, policy: domain.OutagePolicy, availability: Availability,
                          bank_deadline_days: int, on_waiting: Callable[[], None],
                          locked: tuple[expenses.Check, dict[str, Any]] | None = None, unsaved: bool = False,
                          parsed: tuple[Envelope, ApplicationSubmitted] | None = None) -> None:
    """`_resume` from a consumer: a system that is down parks `envelope` (the retry loop resumes
    the check from there); one that refuses our request fails the event for good."""
    try:
        await _resume(session, application_id, registries=registries, availability=availability,
                      bank_deadline_days=bank_deadline_days, locked=locked, unsaved=unsaved, parsed=parsed)
    except RegistryUnavailable as outage:
        await _start_waiting(session, envelope, application_id, system=outage.system,
                             error=mask_iins_in(str(outage)), tried=True, policy=policy, on_waiting=on_waiting)
    except RegistryError as refused:
        # Our request or its answer is wrong (a 4xx, an unreadable answer): waiting will not fix it.
        raise PermanentError(str(refused)) from None


async def _resume(session: AsyncSession, application_id: UUID, *, registries: Registries | None,
                  availability: Availability, bank_deadline_days: int,
                  locked: tuple[expenses.Check, dict[str, Any]] | None = None, unsaved: bool = False,
                  requests: list[expenses.BankRequest] | None = None,
                  parsed: tuple[Envelope, ApplicationSubmitted] | None = None) -> None:
    """Take the application's check as far as it goes now, holding its lock: gather the
    registries' facts if not yet gathered, then ask the banks, freeze the evidence or wait
    (`expenses.next_step`). Raises RegistryUnavailable/RegistryError from an external system;
    `registries` None: no external call may be made (a bank's callback), only a freeze.

    A caller holding the check's lock already passes what it read once it held it: `locked`
    (the check and its submitted event; `unsaved` when it changed the check without writing it
    back), `requests` (the check's bank requests as they stand in this transaction), `parsed`
    (the submitted event validated, with its payload). The check is written back once, if it
    changed: at the end, or before an external system's failure is passed on (the caller may
    still commit: the application then waits, or is dead-lettered, with what was gathered)."""
    if locked is None:
        locked = await repository.lock_check(session, application_id)
        if locked is None:
            return
    check, submitted_event = locked
    stored = None if unsaved else check  # the check as its row holds it

    def submitted_envelope() -> tuple[Envelope, ApplicationSubmitted]:
        nonlocal parsed
        if parsed is None:
            envelope = Envelope.model_validate(submitted_event)
            parsed = envelope, envelope.payload()  # type: ignore[assignment]
        return parsed

    try:
        if check.gathered is None and not check.frozen:
            assert registries is not None
            check = replace(check, gathered=await _gather(registries, submitted_envelope()[1], availability))
        if requests is None:
            requests = await repository.bank_requests(session, application_id)
        step = expenses.next_step(check, requests)
        if isinstance(step, expenses.AskBanks):
            assert registries is not None
            check, requests = await _ask_banks(session, check, submitted_envelope()[1], registries=registries,
                                               availability=availability, bank_deadline_days=bank_deadline_days)
            step = expenses.next_step(check, requests)
        if isinstance(step, expenses.Freeze):
            check = await _freeze(session, *submitted_envelope(), check, requests, step.expenses)
    except RegistryError:
        if check is not stored:
            await repository.save_check(session, check)
        raise
    if check is not stored:
        await repository.save_check(session, check)


async def _ask_banks(session: AsyncSession, check: expenses.Check, submitted: ApplicationSubmitted, *,
                     registries: Registries, availability: Availability, bank_deadline_days: int,
                     ) -> tuple[expenses.Check, list[expenses.BankRequest]]:
    """The family consented: which banks hold each adult's accounts (the accounts registry), and a
    request to each of them for the quarter's aggregates, written here and sent by the bank
    request dispatcher once this transaction is committed (`send_bank_requests`): a bank's answer,
    however fast, then always finds its request. Safe to repeat: requests are kept with their ids.
    Returns the check asked (for the caller to write back) and its requests."""
    quarter = domain.quarter_to_assess(submitted)
    iins = check.consenting_iins or tuple(m.iin for m in submitted.members)
    accounts = registries.accounts
    banks_of = await _asked(accounts.system, availability, accounts.banks_of(iins))
    now = utcnow()
    await repository.add_bank_requests(session, [
        expenses.BankRequest(id=uuid7(), application_id=check.application_id, bank_code=code, iin=iin,
                             quarter=str(quarter), created_at=now)
        for iin, codes in zip(iins, banks_of) for code in codes])
    check = replace(check, banks_asked_at=now,
                    bank_deadline=BusinessCalendar().deadline(now, business_days=bank_deadline_days))
    requests = await repository.bank_requests(session, check.application_id)
    if requests:
        orm_event.listen(session.sync_session, "after_commit", lambda _: registries.requests_written(), once=True)
    log.info("%d request(s) to bank(s) for the family's aggregates", len(requests),
             extra={"key": str(check.application_id)})
    return check, requests


async def send_bank_requests(*, sessionmaker: async_sessionmaker[AsyncSession], banks: BankOpenApi,
                             callback_url: Callable[[str], str], policy: domain.OutagePolicy, now: datetime,
                             limit: int = 100, concurrency: int = 8) -> tuple[int, datetime | None]:
    """Send every bank request due at `now` (the bank request dispatcher's round): a bank that is
    down is tried again after growing, jittered delays; one that refuses the request (a 4xx) is not
    asked again — its family becomes overdue at the deadline, visibly. Returns (how many were due,
    when the next one is due)."""
    async with sessionmaker() as session:
        due = await repository.requests_to_send(session, now, limit)
    gate = asyncio.Semaphore(concurrency)

    async def send(request: expenses.BankRequest) -> None:
        async with gate:
            try:
                await banks.request_cashflow(request.bank_code, request_id=str(request.id), iin=request.iin,
                                             quarter=Quarter.parse(request.quarter),
                                             callback_url=callback_url(request.bank_code))
            except RegistryUnavailable as outage:
                retry_at = now + policy.delay(request.attempts + 1, random.random)
                failed: tuple[str, datetime | None] = (mask_iins_in(str(outage)), retry_at)
            except RegistryError as refused:
                failed = (mask_iins_in(str(refused)), None)
                log.error("bank %s refused a cash-flow request: %s", request.bank_code, failed[0],
                          extra={"key": str(request.application_id)})
            except Exception as unexpected:  # noqa: BLE001 - tried again later, never in a tight loop
                failed = (mask_iins_in(repr(unexpected)), now + policy.delay(request.attempts + 1, random.random))
                log.error("sending a bank request failed: %s", failed[0], extra={"key": str(request.application_id)})
            else:
                async with sessionmaker() as session, session.begin():
                    await repository.acknowledged(session, request.id, utcnow())
                return
            async with sessionmaker() as session, session.begin():
                await repository.send_failed(session, request.id, error=failed[0], next_attempt_at=failed[1])

    for failure in await asyncio.gather(*(send(r) for r in due), return_exceptions=True):
        if isinstance(failure, Exception):
            log.error("sending a bank request failed: %s", mask_iins_in(repr(failure)))
    async with sessionmaker() as session:
        return len(due), now if len(due) >= limit else await repository.next_send_at(session)


async def _freeze(session: AsyncSession, envelope: Envelope, submitted: ApplicationSubmitted, check: expenses.Check,
                  requests: list[expenses.BankRequest], facts: ExpenseFacts | None) -> expenses.Check:
    """The evidence frozen and announced; returns the check frozen (for the caller to write back)."""
    gathered = check.gathered
    assert gathered is not None
    banks_of: dict[str, list[str]] = {}
    for request in requests:
        banks_of.setdefault(request.iin, []).append(request.bank_code)
    answers = [{"request_id": str(r.id), "bank_code": r.bank_code, "iin": r.iin, "quarter": r.quarter,
                "requested_at": r.created_at.isoformat(),
                "answered_at": r.answered_at.isoformat() if r.answered_at else None,
                **(r.answer.as_json() if r.answer is not None and facts is not None and facts.consent else {})}
               for r in requests]
    sources = dict(gathered.sources)
    if check.banks_asked_at is not None:
        sources["banks"] = {"asked_at": check.banks_asked_at.isoformat(), "requests": len(requests),
                            "deadline": check.bank_deadline.isoformat() if check.bank_deadline else None}
    evidence, event = domain.freeze(submitted, gathered.incomes, evidence_id=uuid7(), at=utcnow(),
                                    purchases=gathered.purchases, expenses=facts, sources=sources,
                                    consents=expenses.consent_records(check, banks_of), bank_answers=answers)
    await repository.add(session, evidence)
    await emit(session, event, source=SOURCE, key=str(evidence.application_id), cause=envelope)
    return replace(check, frozen=True)


# ---- intake's consent events, the banks' answers, the overdue sweep ---------------------------

async def follow_consent(session: AsyncSession, envelope: Envelope, *, registries: Registries,
                         policy: domain.OutagePolicy, availability: Availability, bank_deadline_days: int,
                         on_waiting: Callable[[], None] = lambda: None) -> None:
    """An adult's consent changed: kept with the check, and the check taken as far as it goes
    (once the family granted, the banks are asked; once it did not, the evidence is frozen)."""
    event: ConsentEvent = envelope.payload()  # type: ignore[assignment]
    application_id = event.consent.application_id
    locked = await repository.lock_check(session, application_id)
    if locked is None:
        log.warning("consent event for an application without an expense check", extra={"key": str(application_id)})
        return
    check, submitted_event = locked
    if check.frozen:
        return  # decided on what was frozen; a withdrawal after that is intake's to refuse
    check = expenses.follow_consent(check, event.consent.model_dump(mode="json"), event.family_consent)
    if check.gathered is None:
        await repository.save_check(session, check)
        return  # still gathering (or waiting for a registry): the retry takes it on from there
    # Taken on holding the lock taken here: `_resume` writes the check back once, with what it did.
    await _resume_or_wait(session, envelope, application_id, registries=registries, policy=policy,
                          availability=availability, bank_deadline_days=bank_deadline_days, on_waiting=on_waiting,
                          locked=(check, submitted_event), unsaved=True)


async def record_cashflow(*, session: AsyncSession, caller: Caller, bank_code: str, body: CashflowIn,
                          bank_deadline_days: int) -> CashflowOut:
    """A bank's signed answer (through the gateway) to a request for a person's aggregates."""
    if caller.kind != "bank" or caller.bank_code != bank_code:
        raise Forbidden(f"Only bank {bank_code} answers on this route.", slug="not-this-bank",
                        title="Not this bank")
    application_id = await repository.application_of_request(session, body.request_id)
    if application_id is None:
        raise Conflict(f"No request {body.request_id} was sent to bank {bank_code}.", slug="unknown-request",
                       title="Unknown request", errors=[field_error("request_id", "not a request of ours")])
    locked = await repository.lock_check(session, application_id)
    # Read holding the check's lock (every change to its requests' answers is made holding it):
    # an answer recorded by a callback that held it before is seen.
    requests = await repository.bank_requests(session, application_id)
    request = next((r for r in requests if r.id == body.request_id), None)
    assert locked is not None and request is not None
    check, _ = locked
    figures = expenses.BankAnswer(total_spending=body.total_spending, non_mortgage_loans=body.non_mortgage_loans,
                                  savings_deposits=body.savings_deposits, housing_deposits=body.housing_deposits)
    outcome = expenses.answer(request, check, bank_code=bank_code, iin=body.iin, quarter=body.quarter,
                              figures=figures, at=utcnow())
    log.info("bank %s answered a cash-flow request: %s", bank_code, outcome.outcome,
             extra={"key": str(request.application_id)})
    if outcome.outcome == expenses.OTHER_BANK:
        raise Forbidden(outcome.detail, slug="other-banks-request", title="Another bank's request")
    if outcome.outcome in (expenses.MISMATCH, expenses.DIFFERENT_ANSWER):
        raise Conflict(outcome.detail, slug="request-mismatch" if outcome.outcome == expenses.MISMATCH
                       else "already-answered", title="The answer does not fit the request",
                       errors=[field_error(outcome.field, outcome.detail)])
    if outcome.outcome == expenses.RECORDED:
        saved = await repository.save_answer(session, outcome.request)
        await _resume(session, request.application_id, registries=None, availability=Availability(),
                      bank_deadline_days=bank_deadline_days, locked=locked,
                      requests=[saved if r.id == saved.id else r for r in requests])
    return CashflowOut(request_id=request.id, status=outcome.outcome)  # type: ignore[arg-type]


async def mark_overdue(*, sessionmaker: async_sessionmaker[AsyncSession], now: datetime, limit: int = 200) -> int:
    """Every check past its bank deadline with a bank still silent is announced overdue, once.
    Driven by the database alone (a restart loses nothing). Returns how many."""
    announced = 0
    async with sessionmaker() as session:
        candidates = await repository.overdue_candidates(session, now, limit)
    for application_id in candidates:
        async with sessionmaker() as session, session.begin():
            locked = await repository.lock_check(session, application_id)
            if locked is None:
                continue
            check, submitted_event = locked
            event = expenses.overdue(check, await repository.bank_requests(session, application_id), now)
            if event is None:
                continue
            await repository.save_check(session, replace(check, overdue_at=now))
            await emit(session, event, source=SOURCE, key=str(application_id),
                       cause=Envelope.model_validate(submitted_event))
            log.warning("banks %s have not answered by the deadline", ",".join(event.banks),
                        extra={"key": str(application_id)})
            announced += 1
    async with sessionmaker() as session:
        OVERDUE.labels(SOURCE).set(await repository.overdue_count(session))
    return announced


async def _start_waiting(session: AsyncSession, envelope: Envelope, application_id: UUID, *, system: str,
                         error: str, tried: bool, policy: domain.OutagePolicy,
                         on_waiting: Callable[[], None]) -> None:
    waiting, event = domain.start_waiting(application_id, system=system, error=error, tried=tried, at=utcnow(),
                                          policy=policy)
    if not await repository.start_waiting(session, waiting, envelope.model_dump(mode="json")):
        return
    await emit(session, event, source=SOURCE, key=str(application_id), cause=envelope)
    orm_event.listen(session.sync_session, "after_commit", lambda _: on_waiting(), once=True)
    log.warning("application waits for %s: %s", system, error, extra={"key": str(application_id)})


# ---- waiting out an outage ---------------------------------------------------------------------

async def retry_waiting(*, sessionmaker: async_sessionmaker[AsyncSession], registries: Registries,
                        policy: domain.OutagePolicy, availability: Availability, now: datetime, limit: int = 100,
                        concurrency: int = 4, bank_deadline_days: int = 1) -> tuple[int, datetime | None]:
    """Try again every waiting application due at `now`, each in its own transaction, a few at a
    time. Returns (how many were due, when the next one is due — `now` when more are due)."""
    async with sessionmaker() as session:
        due = await repository.due(session, now, limit)
    gate = asyncio.Semaphore(concurrency)

    async def one(application_id: UUID) -> None:
        async with gate, sessionmaker() as session, session.begin():
            await _retry_one(session, application_id, registries=registries, policy=policy,
                             availability=availability, now=now, bank_deadline_days=bank_deadline_days)

    for failure in await asyncio.gather(*(one(a) for a in due), return_exceptions=True):
        if isinstance(failure, Exception):
            log.error("retrying a waiting application failed: %s", mask_iins_in(repr(failure)))
    async with sessionmaker() as session:
        await _count_waiting(session)
        return len(due), now if len(due) >= limit else await repository.next_attempt_at(session)


_systems_seen: set[str] = {IncomeRegistry.system}


async def _count_waiting(session: AsyncSession) -> None:
    counts = await repository.waiting_per_system(session)
    _systems_seen.update(counts)
    for system in _systems_seen:
        WAITING.labels(SOURCE, system).set(counts.get(system, 0))


async def _retry_one(session: AsyncSession, application_id: UUID, *, registries: Registries,
                     policy: domain.OutagePolicy, availability: Availability, now: datetime,
                     bank_deadline_days: int) -> None:
    found = await repository.lock_waiting(session, application_id)
    if found is None:
        return  # verified meanwhile, or another process is trying it
    waiting, submitted_event = found
    if waiting.next_attempt_at > now:
        return
    envelope = Envelope.model_validate(submitted_event)
    original_topic = TOPICS[envelope.source]
    if await repository.by_application(session, application_id) is not None:
        await repository.stop_waiting(session, application_id)
        return
    try:
        await _resume(session, application_id, registries=registries, availability=availability,
                      bank_deadline_days=bank_deadline_days)
    except RegistryUnavailable as outage:
        outcome = domain.after_failure(waiting, error=mask_iins_in(str(outage)), at=now, policy=policy)
        if isinstance(outcome, domain.GivenUp):
            await repository.stop_waiting(session, application_id)
            await dead_letter(session, envelope, failed_in=SOURCE, original_topic=original_topic, error=outcome.reason)
            GIVEN_UP.labels(SOURCE, waiting.system).inc()
            log.error("application given up on: %s", outcome.reason, extra={"key": str(application_id)})
        else:
            await repository.save_waiting(session, outcome)
        return
    except RegistryError as refused:
        await repository.stop_waiting(session, application_id)
        await dead_letter(session, envelope, failed_in=SOURCE, original_topic=original_topic,
                          error=f"RegistryError: {refused}")
        log.error("waiting application refused by %s: %s", waiting.system, refused, extra={"key": str(application_id)})
        return
    await repository.stop_waiting(session, application_id)
    # The system answers again: the applications waiting for it need not wait out their delays.
    others = await repository.make_due(session, waiting.system, now)
    log.info("%s answers again after %d failed call(s); %d other application(s) due now", waiting.system,
             waiting.attempts, others, extra={"key": str(application_id)})


# ---- showing evidence --------------------------------------------------------------------------

def _evidence_readers(caller: Caller) -> FamilyAccess:
    """A citizen reads their families' evidence, a case worker their regions'; ops reads only
    masked lists and statistics, and evidence is each member's incomes (nothing to mask it to)."""
    return family_access(caller, unmaskable="Evidence lists each member's incomes")


async def get_evidence(*, session: AsyncSession, caller: Caller, application_id: UUID) -> EvidenceOut:
    access = _evidence_readers(caller)
    evidence = await repository.by_application(session, application_id)
    # Evidence of a family the caller may not see answers as if there were none.
    if evidence is None or not access.may_see(evidence.member_iins, evidence.region_kato or ""):
        raise NotFound(f"No evidence gathered yet for application {application_id}.")
    note_data_subjects(evidence.member_iins)
    return EvidenceOut.model_validate(evidence)
