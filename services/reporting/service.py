"""Reporting use cases: project every event into the read model and read statistics from it; keep
the dead letters and replay them for an operator; show the backlog ops act on."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import domain, repository
from services.reporting.models import DeadLetter
from services.reporting.schemas import (
    BacklogOut,
    BacklogStatusOut,
    DeadLetterCountsOut,
    DeadLetterEventOut,
    DeadLetterOut,
    FailureOut,
    RegionStatsOut,
    ReplayIn,
    ReplayOut,
    SummaryOut,
)
from shared.calendar import utcnow
from shared.errors import Conflict, InvalidInput, NotFound, field_error
from shared.events import Envelope
from shared.events.contracts import (
    ContractDrafted,
    ContractSigned,
    EligibilityExtended,
    FdcInvitationConverted,
    FdcInvitationIssued,
    PaymentFailed,
    PaymentScheduled,
    PaymentSettled,
    ReconciliationRequested,
)
from shared.ids import uuid7
from shared.redrive import REPLAY_HEADER, requeue
from shared.regions import region_name

log = logging.getLogger("qamqor.reporting")

DEAD_LETTERS_UNREPLAYED = Gauge(
    "qamqor_dead_letters_unreplayed",
    "Dead letters not replayed since they last failed, per service that could not handle them", ["failed_in"])
# At most this many events are replayed by one call; the answer says how many are left.
REPLAY_BATCH = 500


# ---- the read model ---------------------------------------------------------------------------

async def project(session: AsyncSession, envelope: Envelope) -> None:
    event: domain.ProjectedEvent = envelope.payload()  # type: ignore[assignment]
    await repository.upsert_fact(session, domain.fact_change(event, envelope.occurred_at), envelope.occurred_at)
    match event:
        case ContractDrafted() | ContractSigned():
            await project_contract(session, envelope)
        case PaymentScheduled():
            await project_payment(session, envelope)


async def project_consent(session: AsyncSession, envelope: Envelope) -> None:
    event: domain.ConsentEvent = envelope.payload()  # type: ignore[assignment]
    await repository.set_consent_flags(session, application_id=event.consent.application_id,
                                       flags=domain.consent_flags(event), at=envelope.occurred_at)


async def project_contract(session: AsyncSession, envelope: Envelope) -> None:
    event: domain.ContractEvent = envelope.payload()  # type: ignore[assignment]
    await repository.upsert_contract(
        session, contract_id=event.contract_id, application_id=event.application_id,
        flag=domain.CONTRACT_FLAG[envelope.type],
        measures=domain.contract_measures(event) if isinstance(event, ContractDrafted) else None,
        at=envelope.occurred_at)


async def project_payment(session: AsyncSession, envelope: Envelope) -> None:
    event: PaymentScheduled | PaymentSettled | PaymentFailed = envelope.payload()  # type: ignore[assignment]
    if isinstance(event, PaymentScheduled):
        for planned in domain.payments_planned(event):
            await repository.add_planned_payment(session, planned, envelope.occurred_at)
    else:
        await repository.upsert_order(session, domain.order_reported(event), envelope.occurred_at)


async def project_extension(session: AsyncSession, envelope: Envelope) -> None:
    """One statement per event (a run sends hundreds of thousands at once)."""
    event: EligibilityExtended = envelope.payload()  # type: ignore[assignment]
    await repository.add_extension(session, domain.extension_facts(event), envelope.occurred_at)


async def project_invitation(session: AsyncSession, envelope: Envelope) -> None:
    event: FdcInvitationIssued | FdcInvitationConverted = envelope.payload()  # type: ignore[assignment]
    await repository.upsert_invitation(session, invitation_id=event.invitation_id,
                                       facts=domain.invitation_facts(event), at=envelope.occurred_at)


async def project_redrive(session: AsyncSession, envelope: Envelope) -> None:
    request: ReconciliationRequested = envelope.payload()  # type: ignore[assignment]
    await repository.record_redrive(session, application_id=request.application_id, status=request.status,
                                    owner=request.owner, attempt=request.attempt,
                                    max_attempts=request.max_attempts, at=envelope.occurred_at)


async def summary(*, session: AsyncSession, region_kato: str | None) -> SummaryOut:
    by_stage = await repository.applications_by_stage(session, region_kato=region_kato)
    families, recipients, scheduled = await repository.approved(session, region_kato=region_kato)
    extensions = await repository.latest_extensions(session, region_kato=region_kato)
    return SummaryOut(
        extended_families=sum(row["extended"] for row in extensions),
        extension_ended_families=sum(row["ended"] for row in extensions),
        applications_by_stage=by_stage,
        approved_families=families,
        rejected_families=await repository.rejected(session, region_kato=region_kato),
        recipients=recipients,
        scheduled_total_tenge=scheduled,
        undecided=domain.undecided(by_stage),
    )


async def by_region(*, session: AsyncSession, region_kato: str | None) -> list[RegionStatsOut]:
    """Per KATO code: the applications' figures, and the families runs extended or ended (a
    region with extensions only — a seeded register — gets a row too)."""
    rows = {figures["region_kato"]: figures
            for figures in await repository.figures_by_region(session, region_kato=region_kato)}
    for extension in await repository.latest_extensions(session, region_kato=region_kato):
        row = rows.setdefault(extension["region_kato"], {
            "region_kato": extension["region_kato"], "applications": 0, "approved_families": 0, "recipients": 0,
            "undecided": 0, "scheduled_total_tenge": 0})
        row["extended_families"], row["extension_ended_families"] = int(extension["extended"]), int(extension["ended"])
    return [RegionStatsOut(region=region_name(kato), **rows[kato]) for kato in sorted(rows)]


async def backlog(*, session: AsyncSession, region_kato: str | None) -> BacklogOut:
    """What ops act on: per status the sweep re-drives, the applications there and what the
    re-drives did; the applications waiting for an external system, and those waiting for a bank
    past its deadline; the dead letters (of every
    region: an event that failed is not always one application's)."""
    by_stage = await repository.applications_by_stage(session, region_kato=region_kato)
    redrives = await repository.redrives_per_status(session, region_kato=region_kato)
    unreplayed, total = await repository.dead_letter_totals(session)
    return BacklogOut(
        statuses=[BacklogStatusOut(status=status, stage=stage, applications=by_stage.get(stage, 0),
                                   **dict(zip(("redriven", "still_stuck", "left_to_operator"),
                                              redrives.get(status, (0, 0, 0)))))
                  for status, stage in domain.STAGE_OF_SWEPT_STATUS.items()],
        waiting_for_systems=by_stage.get("verification_waiting", 0),
        verification_overdue=by_stage.get("verification_overdue", 0),
        undecided=domain.undecided(by_stage),
        dead_letters=DeadLetterCountsOut(unreplayed=unreplayed, total=total),
    )


# ---- dead letters ---------------------------------------------------------------------------------

async def record_dead_letters(session: AsyncSession, messages: Iterable[domain.DeadLetterSeen]) -> int:
    """Keep what the dead-letter topic says; a message delivered again is kept once. Returns how
    many were new."""
    at = utcnow()
    new = 0
    for seen in messages:
        if not await repository.first_sight(session, seen):
            continue
        await repository.record_dead_letter(session, seen, at)
        new += 1
        log.warning("dead letter: %s from %s failed in %s: %s", seen.event_type, seen.original_topic,
                    seen.failed_in, seen.error[:300], extra={"event_id": str(seen.event_id), "key": seen.key})
    return new


_services_seen: set[str] = set()


async def count_dead_letters(session: AsyncSession) -> None:
    """The dead-letter depth at /metrics, per service."""
    counts = await repository.unreplayed_per_service(session)
    _services_seen.update(counts)
    for service in _services_seen:
        DEAD_LETTERS_UNREPLAYED.labels(service).set(counts.get(service, 0))


def _pending(row: DeadLetter) -> bool:
    return row.replayed_at is None or row.last_seen_at > row.replayed_at


def _shown(row: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(event_id=row.event_id, event_type=row.event_type, key=row.key,
                         original_topic=row.original_topic, failed_in=row.failed_in, error=row.error,
                         first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at, times=row.times,
                         replayable=row.envelope is not None, pending=_pending(row), replayed_at=row.replayed_at,
                         replay_id=row.replay_id, replays=row.replays)


async def list_dead_letters(*, session: AsyncSession, pending: bool | None, event_type: str | None,
                            failed_in: str | None, limit: int) -> list[DeadLetterOut]:
    rows = await repository.dead_letters(session, pending=pending, event_type=event_type, failed_in=failed_in,
                                         limit=limit)
    return [_shown(row) for row in rows]


async def _failures(session: AsyncSession, event_id: UUID) -> list[DeadLetter]:
    rows = await repository.dead_letter_event(session, event_id)
    if not rows:
        raise NotFound(f"No dead letter of event {event_id}.")
    return rows


async def show_dead_letter(*, session: AsyncSession, event_id: UUID) -> DeadLetterEventOut:
    rows = await _failures(session, event_id)
    first = rows[0]
    latest = max(rows, key=lambda r: r.replays)
    return DeadLetterEventOut(
        event_id=first.event_id, event_type=first.event_type, key=first.key, original_topic=first.original_topic,
        replayable=any(r.envelope is not None for r in rows), replayed_at=latest.replayed_at,
        replay_id=latest.replay_id, replays=latest.replays,
        failures=[FailureOut(failed_in=r.failed_in, error=r.error, first_seen_at=r.first_seen_at,
                             last_seen_at=r.last_seen_at, times=r.times, pending=_pending(r)) for r in rows])


async def _replay(session: AsyncSession, events: list[tuple[UUID, str, dict]], *, by: str) -> str:
    """Send each original envelope again to its original topic, marked as replay `replay_id`:
    a consumer that dead-lettered it handles it again (once: its inbox then says handled), one
    that handled it ignores it."""
    replay_id = str(uuid7())
    for _, topic, envelope in events:
        await requeue(session, topic=topic, envelope=envelope, headers={REPLAY_HEADER: replay_id})
    await repository.mark_replayed(session, [event_id for event_id, _, _ in events], replay_id=replay_id,
                                   at=utcnow())
    await count_dead_letters(session)
    log.warning("replay %s by %s: %d dead-lettered event(s) sent again", replay_id, by, len(events))
    return replay_id


async def replay_one(*, session: AsyncSession, event_id: UUID, by: str) -> ReplayOut:
    rows = await _failures(session, event_id)
    replayable = next((r for r in rows if r.envelope is not None), None)
    if replayable is None:
        raise Conflict(f"Dead letter {event_id} is not an event (it could not be decoded): there is nothing to "
                       "replay.", slug="not-replayable", title="Not replayable")
    replay_id = await _replay(session, [(event_id, replayable.original_topic, replayable.envelope)], by=by)
    return ReplayOut(replay_id=replay_id, replayed=[event_id], remaining=0)


async def replay_many(*, session: AsyncSession, body: ReplayIn, by: str) -> ReplayOut:
    filters = {"event_type": body.event_type, "failed_in": body.failed_in, "original_topic": body.original_topic}
    if not body.all and not any(filters.values()):
        raise InvalidInput("Name the dead letters to replay: a filter, or all.", errors=[
            field_error("body.all", "must be true when no filter (event_type, failed_in, original_topic) is given")])
    events = await repository.events_to_replay(session, include_replayed=body.include_replayed,
                                               limit=REPLAY_BATCH, **filters)
    if not events:
        return ReplayOut(replay_id=None, replayed=[], remaining=0)
    replay_id = await _replay(session, events, by=by)
    remaining = await repository.count_events_to_replay(session, include_replayed=body.include_replayed, **filters)
    # Replayed just now, so no longer pending; with include_replayed they still match.
    if body.include_replayed:
        remaining = max(0, remaining - len(events))
    return ReplayOut(replay_id=replay_id, replayed=[event_id for event_id, _, _ in events], remaining=remaining)
