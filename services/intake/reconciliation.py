"""The reconciliation sweep: no application stays stuck, whatever the broker loses.

Even Apache Kafka can lose a write it acknowledged (an unclean leader election), and the local
broker does on a hard kill. Each service's outbox still holds every event it published, so an
application that stopped moving is re-driven from there:

- Intake sees every status. Every `reconciliation_interval_seconds` it looks for applications
  that have been in a status longer than that status's time limit (`reconciliation_sla_seconds`).
- For each it emits `reconciliation.requested` (on qamqor.intake) naming the service that owns the
  next step and the services that re-publish their latest events for the application: the one
  whose event should have moved it on, and the owner (whose input may be what was lost). When
  intake is one of them (an application still `submitted`), it re-publishes its own at once.
- The events go out again with their own ids: a consumer that had them ignores them (its inbox),
  one that never got them handles them now. So a re-drive of what was not lost changes nothing.
- Re-drives are bounded: at most `reconciliation_max_attempts` per status, the n-th due the
  time limit × 2^(n-1) after the one before. Each is recorded (`redrives`), counted
  (`qamqor_reconciliation_redrives_total`) and projected by reporting (`GET /v1/stats/backlog`),
  so ops see what is stuck, where, and what was done about it.

Statuses that wait for a person (`contract_drafted`: the family signs) or wait visibly for a
system that says what it waits for (`waiting_for_*`: verification retries by itself;
`verification_overdue`: a bank past its deadline, whose answer moves it on;
`decision_pending`: a parameter value) are not swept, nor are final ones, nor an application
whose family is still being asked for its consent to the expense check (its adults answer, or the
consent expiry sweep settles it at the deadline).

The sweep is driven by the database alone (the applications' last change, the re-drives so far),
so a restart loses nothing, and one process sweeps at a time (an advisory lock). An operator runs
one sweep with `qamqor reconcile --once`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake import domain, repository
from services.intake.service import SOURCE
from services.intake.settings import IntakeSettings
from shared.calendar import utcnow
from shared.events.contracts import ReconciliationRequested
from shared.outbox import emit
from shared.redrive import republish_latest

log = logging.getLogger("qamqor.reconciliation")

SWEPT_STATUSES = frozenset({domain.SUBMITTED, domain.VERIFIED, domain.APPROVED, domain.CONTRACT_SIGNED})

REDRIVES = Counter("qamqor_reconciliation_redrives_total", "Re-drives of applications stuck in a status",
                   ["status"])
EXHAUSTED = Counter("qamqor_reconciliation_exhausted_total",
                    "Applications given their last re-drive of a status (left to an operator after it)", ["status"])


@dataclass(frozen=True, slots=True)
class NextStep:
    owner: str  # the service that takes the application out of its status
    redrive: tuple[str, ...]  # the services that re-publish their latest events for it


def next_step(status: str, decision_kind: str | None) -> NextStep | None:
    """Who moves an application on from `status`, and who re-publishes when it does not move."""
    if status == domain.SUBMITTED:
        return NextStep("verification", ("intake", "verification"))
    if status == domain.VERIFIED:
        return NextStep("eligibility", ("verification", "eligibility"))
    if status == domain.APPROVED:
        # A conditional approval waits for its social contract; an unconditional one is paid.
        if decision_kind == "conditional":
            return NextStep("contracts", ("eligibility", "contracts"))
        return NextStep("payments", ("eligibility", "payments"))
    if status == domain.CONTRACT_SIGNED:
        return NextStep("payments", ("contracts", "payments"))
    return None


@dataclass(frozen=True, slots=True)
class ReconciliationPolicy:
    sla: Mapping[str, timedelta]  # status -> how long an application may stay in it
    max_attempts: int

    @classmethod
    def of(cls, settings: IntakeSettings) -> "ReconciliationPolicy":
        return cls(sla={status: timedelta(seconds=seconds)
                        for status, seconds in settings.reconciliation_sla_seconds.items()},
                   max_attempts=settings.reconciliation_max_attempts)

    def next_due(self, status: str, attempt: int, at: datetime) -> datetime:
        """When the re-drive after the `attempt`-th is due."""
        return at + self.sla[status] * 2 ** (attempt - 1)


@dataclass(frozen=True, slots=True)
class Redriven:
    application_id: UUID
    status: str
    stuck_since: datetime
    owner: str
    redrive: tuple[str, ...]
    attempt: int
    last: bool  # the last re-drive of this status: after it the application is left to an operator


async def sweep(session: AsyncSession, *, policy: ReconciliationPolicy, now: datetime, limit: int = 500,
                ) -> list[Redriven]:
    """One sweep at `now`, in the caller's transaction: every stuck application whose re-drive is
    due is re-driven. Returns what was re-driven (nothing while another process sweeps)."""
    if not await repository.lock_sweep(session):
        return []
    cutoffs = {status: now - sla for status, sla in policy.sla.items()}
    done: list[Redriven] = []
    for stuck in await repository.stuck_applications(session, cutoffs=cutoffs, now=now,
                                                     max_redrives=policy.max_attempts, limit=limit):
        step = next_step(stuck.status, stuck.decision_kind)
        if step is None:
            continue
        attempt = stuck.redrives + 1
        key = str(stuck.application_id)
        await repository.record_redrive(session, application_id=stuck.application_id, status=stuck.status,
                                        attempt=attempt, at=now,
                                        next_due_at=policy.next_due(stuck.status, attempt, now))
        if SOURCE in step.redrive:
            await republish_latest(session, key=key, reason=f"{stuck.status} #{attempt}")
        await emit(session, ReconciliationRequested(
            application_id=stuck.application_id, status=stuck.status, owner=step.owner, redrive=list(step.redrive),
            attempt=attempt, max_attempts=policy.max_attempts, stuck_since=stuck.since,
        ), source=SOURCE, key=key, correlation_id=key)
        redriven = Redriven(stuck.application_id, stuck.status, stuck.since, step.owner, step.redrive, attempt,
                            last=attempt >= policy.max_attempts)
        REDRIVES.labels(stuck.status).inc()
        if redriven.last:
            EXHAUSTED.labels(stuck.status).inc()
            log.warning("last re-drive of an application stuck in %s since %s; an operator must look at it",
                        stuck.status, stuck.since.isoformat(), extra={"key": key})
        else:
            log.info("re-driving an application stuck in %s since %s (attempt %d): %s", stuck.status,
                     stuck.since.isoformat(), attempt, ", ".join(step.redrive), extra={"key": key})
        done.append(redriven)
    return done


async def run_sweeps(*, sessionmaker: async_sessionmaker[AsyncSession], policy: ReconciliationPolicy,
                     interval: float, clock: Callable[[], datetime] = utcnow) -> None:
    """Runs for the life of the process: a sweep every `interval` seconds."""
    while True:
        await asyncio.sleep(interval)
        async with sessionmaker() as session, session.begin():
            await sweep(session, policy=policy, now=clock())
