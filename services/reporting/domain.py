"""The read model: which stage each event marks and what it tells about an application; what the
reconciliation sweep's re-drives and the dead-letter topic tell ops. Pure Python."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from shared.events import Envelope
from shared.events.contracts import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    ContractDrafted,
    ContractSigned,
    EligibilityDecided,
    EligibilityDeferred,
    PaymentScheduled,
    VerificationCompleted,
    VerificationOverdue,
    VerificationWaiting,
)
from shared.iin import mask_iins_in

STAGE_OF_EVENT = {
    "application.submitted": "submitted",
    # Verification waits for an external system that is down; it resumes by itself.
    "verification.waiting": "verification_waiting",
    # A bank asked for a family's cash flow has not answered by the deadline: the application
    # waits, visibly, and is never decided on missing data.
    "verification.overdue": "verification_overdue",
    "verification.completed": "verified",
    "eligibility.deferred": "decision_pending",
    "eligibility.decided": "decided",
    "contract.drafted": "contract_drafted",
    "contract.signed": "contract_signed",
    "payment.scheduled": "payments_scheduled",
    # The family withdrew it (before any payment): final, so last in the order — an event of an
    # earlier stage arriving after it (a decision made meanwhile) does not move it back.
    "application.withdrawn": "withdrawn",
}
# Events of one application come from several topics, so they arrive in any order: a fact's
# stage only moves forward along this order.
STAGES: tuple[str, ...] = tuple(STAGE_OF_EVENT.values())

UNDECIDED_STAGES = ("submitted", "verification_waiting", "verification_overdue", "verified", "decision_pending")

# What a fact holds until the application's own facts arrive (a later event may come first).
NOT_YET_KNOWN: dict[str, Any] = {"region_kato": "000000000", "settlement": "urban", "channel": "unknown",
                                 "members": 0, "scheduled_total": 0}

ProjectedEvent = (ApplicationSubmitted | VerificationWaiting | VerificationOverdue | VerificationCompleted | EligibilityDeferred
                  | EligibilityDecided | ContractDrafted | ContractSigned | PaymentScheduled | ApplicationWithdrawn)


@dataclass(frozen=True, slots=True)
class FactChange:
    """What one event tells about its application's row in the read model."""

    application_id: UUID
    stage: str
    facts: dict[str, Any] = field(default_factory=dict)


def fact_change(event: ProjectedEvent, occurred_at: datetime) -> FactChange:
    stage = STAGE_OF_EVENT[event.event_type]  # type: ignore[union-attr]
    match event:
        case ApplicationSubmitted():
            return FactChange(event.application.application_id, stage, _where(event) | {
                "members": len(event.members), "submitted_at": occurred_at})
        case VerificationWaiting() | VerificationOverdue():
            return FactChange(event.application_id, stage)
        case VerificationCompleted():
            return FactChange(event.application.application_id, stage, _where(event) | {"members": len(event.members)})
        case EligibilityDecided():
            return FactChange(event.application.application_id, stage, _where(event) | {
                "members": len(event.members), "decided_at": occurred_at, "eligible": event.eligible,
                "kind": event.kind})
        case EligibilityDeferred():
            return FactChange(event.application.application_id, stage, _where(event))
        case PaymentScheduled():
            return FactChange(event.application_id, stage, {"scheduled_total": event.total})
        case ContractDrafted() | ContractSigned() | ApplicationWithdrawn():
            return FactChange(event.application_id, stage)
    raise TypeError(f"reporting does not project {type(event).__name__}")


def _where(event: ApplicationSubmitted | VerificationCompleted | EligibilityDecided | EligibilityDeferred) -> dict[str, Any]:
    context = event.application
    return {"region_kato": context.region_kato, "settlement": context.settlement, "channel": context.channel}


def undecided(applications_by_stage: dict[str, int]) -> int:
    return sum(applications_by_stage.get(s, 0) for s in UNDECIDED_STAGES)


# ---- the reconciliation sweep's re-drives -------------------------------------------------------

# The statuses intake's sweep re-drives, and the stage of this read model each one is: an
# application re-driven in a status is still stuck while its stage has not moved past that one.
STAGE_OF_SWEPT_STATUS = {"submitted": "submitted", "verified": "verified", "approved": "decided",
                         "contract_signed": "contract_signed"}


def stage_rank(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else -1


# ---- dead letters -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DeadLetterSeen:
    """One message of the dead-letter topic: which event failed, where and why. `envelope` is
    the original event, kept to replay it (None when the message is not an event at all, e.g.
    undecodable bytes: nothing to replay)."""

    event_id: UUID
    event_type: str
    key: str
    failed_in: str
    original_topic: str
    error: str
    envelope: dict[str, Any] | None
    position: UUID  # the message's own identity (topic, partition, offset): a redelivery is seen once

    @property
    def replayable(self) -> bool:
        return self.envelope is not None


def read_dead_letter(value: bytes | None, headers: Mapping[str, str], *, topic: str, partition: int,
                     offset: int) -> DeadLetterSeen:
    """What a dead-letter message says. Its headers (`error`, `failed_in`, `original_topic`) are
    the protocol's; the error text is IIN-masked again, whoever wrote it. A message that stands
    for an undecodable one (type `undecodable`: where it is, not its bytes) or is not an envelope
    itself is kept without content: there is nothing to replay."""
    position = uuid.uuid5(uuid.NAMESPACE_URL, f"kafka:{topic}/{partition}/{offset}")
    try:
        envelope: Envelope | None = Envelope.model_validate(orjson.loads(value or b""))
    except ValueError:  # not JSON, or not an envelope (pydantic's error is a ValueError)
        envelope = None
    replayable = envelope is not None and envelope.type != UNDECODABLE
    return DeadLetterSeen(
        event_id=envelope.id if envelope is not None else position,
        event_type=envelope.type if envelope is not None else headers.get("event_type", UNDECODABLE)[:100],
        key=envelope.key[:200] if envelope is not None else "",
        failed_in=headers.get("failed_in", "unknown")[:40],
        original_topic=headers.get("original_topic", "unknown")[:200],
        error=mask_iins_in(headers.get("error", ""))[:2000],
        envelope=envelope.model_dump(mode="json") if replayable and envelope is not None else None,
        position=position,
    )


# What a consumer dead-letters for a message that is not an event (shared.redrive).
UNDECODABLE = "undecodable"
