"""Evidence: what a decision is made on, gathered from the state registries once and frozen.
Pure Python. The quarter assessed is the platform's one rule, `shared.calendar.assessment_quarter`.

An external system that is down is waited out, not failed on: the application waits (`Waiting`),
is tried again after growing, jittered delays (`OutagePolicy`), resumes by itself when the system
answers, and is given up on — visibly, as a dead letter an operator can replay — only after the
policy's `give_up_after`."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from shared.backoff import retry_delay
from shared.calendar import Quarter, assessment_quarter
from shared.events.contracts import (
    ApplicationSubmitted,
    ExpenseFacts,
    FamilyMember,
    IncomeRecord,
    PurchaseRecord,
    VerificationCompleted,
    VerificationWaiting,
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Never changed once written: a decision can always be traced to exactly what it saw."""

    id: UUID
    application_id: UUID
    assessment_quarter: str
    members: tuple[FamilyMember, ...]
    incomes: tuple[IncomeRecord, ...]
    sources: dict[str, Any]
    collected_at: datetime
    # Where the family applied: a case worker sees the evidence of the regions they serve.
    # None for evidence gathered before it was kept (then no case worker sees it).
    region_kato: str | None = None
    # Issue 10: homes and vehicles bought in the quarter, the expense facts the rules read (None:
    # not checked), each adult's consent record and each bank's answer as it came.
    purchases: tuple[PurchaseRecord, ...] = ()
    expenses: ExpenseFacts | None = None
    consents: tuple[dict[str, Any], ...] = ()
    bank_answers: tuple[dict[str, Any], ...] = ()

    @property
    def member_iins(self) -> tuple[str, ...]:
        return tuple(m.iin for m in self.members)


def quarter_to_assess(submitted: ApplicationSubmitted) -> Quarter:
    return assessment_quarter(submitted.application.application_date)


def freeze(submitted: ApplicationSubmitted, incomes: Iterable[IncomeRecord], *, evidence_id: UUID,
           at: datetime, purchases: Iterable[PurchaseRecord] = (), expenses: ExpenseFacts | None = None,
           sources: dict[str, Any] | None = None, consents: Iterable[dict[str, Any]] = (),
           bank_answers: Iterable[dict[str, Any]] = ()) -> tuple[Evidence, VerificationCompleted]:
    """What the registries (and, with the family's consent, the banks) reported for the family's
    members over the assessment quarter, frozen as the evidence of the application, and the
    event that hands it on."""
    quarter = str(quarter_to_assess(submitted))
    evidence = Evidence(
        id=evidence_id,
        application_id=submitted.application.application_id,
        assessment_quarter=quarter,
        members=tuple(submitted.members),
        incomes=tuple(incomes),
        sources=sources if sources is not None else {
            "income_registry": {"quarter": quarter, "members_queried": len(submitted.members)}},
        collected_at=at,
        region_kato=submitted.application.region_kato,
        purchases=tuple(purchases),
        expenses=expenses,
        consents=tuple(consents),
        bank_answers=tuple(bank_answers),
    )
    return evidence, VerificationCompleted(
        application=submitted.application,
        evidence_id=evidence.id,
        assessment_quarter=quarter,
        members=list(evidence.members),
        incomes=list(evidence.incomes),
        expenses=expenses,
    )


# ---- waiting for an external system ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OutagePolicy:
    """How an application waits for a system that is down: tried again after `first_retry`,
    then after twice as long each time (jittered, at most `max_retry`), and given up on once it
    has waited `give_up_after`."""

    first_retry: timedelta
    max_retry: timedelta
    give_up_after: timedelta

    def delay(self, attempts: int, jitter: Callable[[], float]) -> timedelta:
        return timedelta(seconds=retry_delay(attempts, first=self.first_retry.total_seconds(),
                                             cap=self.max_retry.total_seconds(), jitter=jitter))


@dataclass(frozen=True, slots=True)
class Waiting:
    """An application waiting for `system`: since when, how many calls failed, when it is tried
    next, and how the last one failed (no personal data)."""

    application_id: UUID
    system: str
    since: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str


def give_up_at(waiting: Waiting, policy: OutagePolicy) -> datetime:
    return waiting.since + policy.give_up_after


def start_waiting(application_id: UUID, *, system: str, error: str, tried: bool, at: datetime,
                  policy: OutagePolicy, jitter: Callable[[], float] = random.random,
                  ) -> tuple[Waiting, VerificationWaiting]:
    """The application starts waiting for `system` at `at`, and the event that says so.
    `tried`: the system was called and failed (tried again after the first delay); False when it
    was not called because other applications already wait for it (tried at once, by the retry
    loop rather than the consumer, so that the consumer never waits on a system known to be down)."""
    attempts = 1 if tried else 0
    waiting = Waiting(application_id=application_id, system=system, since=at, attempts=attempts,
                      next_attempt_at=at + policy.delay(attempts, jitter) if tried else at, last_error=error)
    return waiting, VerificationWaiting(application_id=application_id, system=system, since=at, attempts=attempts)


@dataclass(frozen=True, slots=True)
class GivenUp:
    """The wait is over without an answer: the application goes to the dead-letter topic, where an
    operator sees `reason` and replays it once the system is back."""

    waiting: Waiting  # with the last failed call counted
    reason: str


def after_failure(waiting: Waiting, *, error: str, at: datetime, policy: OutagePolicy,
                  jitter: Callable[[], float] = random.random) -> Waiting | GivenUp:
    """The wait after another failed call at `at`: the next try, never later than the moment the
    wait ends (so that the last try is made then), or GivenUp once it has lasted `give_up_after`."""
    end = give_up_at(waiting, policy)
    failed = replace(waiting, attempts=waiting.attempts + 1, last_error=error)
    if at >= end:
        hours = (at - waiting.since).total_seconds() / 3600
        return GivenUp(failed, f"{waiting.system} unavailable: waited {hours:.1f} h since "
                               f"{waiting.since.isoformat()} ({failed.attempts} failed calls); last: {error}")
    return replace(failed, next_attempt_at=min(at + policy.delay(failed.attempts, jitter), end))
