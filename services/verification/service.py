"""Verification use cases: gather and freeze the evidence for an application — waiting out an
external system that is down — and show it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from prometheus_client import Counter, Gauge
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.verification import domain, repository
from services.verification.adapters import IncomeRegistry, RegistryError, RegistryUnavailable
from services.verification.schemas import EvidenceOut
from shared.access import FamilyAccess, family_access, note_data_subjects
from shared.calendar import utcnow
from shared.consumer import PermanentError
from shared.errors import NotFound
from shared.events import Envelope
from shared.events.contracts import TOPICS, ApplicationSubmitted, IncomeRecord
from shared.identity import Caller
from shared.iin import mask_iins_in
from shared.ids import uuid7
from shared.outbox import emit
from shared.redrive import dead_letter

SOURCE = "verification"
log = logging.getLogger("qamqor.verification")

WAITING = Gauge("qamqor_applications_waiting", "Applications waiting for an external system that is down",
                ["service", "system"])
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

async def _incomes(registry: IncomeRegistry, submitted: ApplicationSubmitted,
                   availability: Availability) -> list[IncomeRecord]:
    quarter = domain.quarter_to_assess(submitted)
    try:
        per_member = await asyncio.gather(*(registry.incomes(m.iin, quarter) for m in submitted.members))
    except RegistryUnavailable as outage:
        availability.failed(outage.system)
        raise
    availability.answered(registry.system)
    return [i for incomes in per_member for i in incomes]


async def _freeze(session: AsyncSession, envelope: Envelope, submitted: ApplicationSubmitted,
                  incomes: list[IncomeRecord]) -> None:
    evidence, event = domain.freeze(submitted, incomes, evidence_id=uuid7(), at=utcnow())
    await repository.add(session, evidence)
    await emit(session, event, source=SOURCE, key=str(evidence.application_id), cause=envelope)


async def gather_evidence(session: AsyncSession, envelope: Envelope, *, registry: IncomeRegistry,
                          policy: domain.OutagePolicy, availability: Availability,
                          on_waiting: Callable[[], None] = lambda: None) -> None:
    """The registry's incomes for the family, frozen as the application's evidence. When the
    registry is down the application waits (and `on_waiting` is called once that is committed):
    the event is done with, and the retry loop (`retry_waiting`) takes it from here."""
    submitted: ApplicationSubmitted = envelope.payload()  # type: ignore[assignment]
    application_id = submitted.application.application_id
    gathered, waits = await repository.progress(session, application_id)
    if gathered:
        return  # evidence is frozen once gathered: a repeat does not ask the registries again
    if waits:
        return  # a repeat of an application that waits: the retry loop has it
    system = registry.system
    if availability.is_down(system):
        # Not called from here: a consumer must not wait for a system known to be down. The
        # retry loop tries it at once.
        await _start_waiting(session, envelope, application_id, system=system, error=f"not called: {system} is down",
                             tried=False, policy=policy, on_waiting=on_waiting)
        return
    try:
        incomes = await _incomes(registry, submitted, availability)
    except RegistryUnavailable as outage:
        await _start_waiting(session, envelope, application_id, system=outage.system,
                             error=mask_iins_in(str(outage)), tried=True, policy=policy, on_waiting=on_waiting)
        return
    except RegistryError as refused:
        # Our request or its answer is wrong (a 4xx, an unreadable answer): waiting will not fix it.
        raise PermanentError(str(refused)) from None
    await _freeze(session, envelope, submitted, incomes)


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

async def retry_waiting(*, sessionmaker: async_sessionmaker[AsyncSession], registry: IncomeRegistry,
                        policy: domain.OutagePolicy, availability: Availability, now: datetime, limit: int = 100,
                        concurrency: int = 4) -> tuple[int, datetime | None]:
    """Try again every waiting application due at `now`, each in its own transaction, a few at a
    time. Returns (how many were due, when the next one is due — `now` when more are due)."""
    async with sessionmaker() as session:
        due = await repository.due(session, now, limit)
    gate = asyncio.Semaphore(concurrency)

    async def one(application_id: UUID) -> None:
        async with gate, sessionmaker() as session, session.begin():
            await _retry_one(session, application_id, registry=registry, policy=policy, availability=availability,
                             now=now)

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


async def _retry_one(session: AsyncSession, application_id: UUID, *, registry: IncomeRegistry,
                     policy: domain.OutagePolicy, availability: Availability, now: datetime) -> None:
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
    submitted: ApplicationSubmitted = envelope.payload()  # type: ignore[assignment]
    try:
        incomes = await _incomes(registry, submitted, availability)
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
    await _freeze(session, envelope, submitted, incomes)
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
