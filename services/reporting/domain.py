"""The read model: which stage each event marks and what it tells about an application. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.events.contracts import (
    ApplicationSubmitted,
    ContractDrafted,
    ContractSigned,
    EligibilityDecided,
    EligibilityDeferred,
    PaymentScheduled,
    VerificationCompleted,
)

STAGE_OF_EVENT = {
    "application.submitted": "submitted",
    "verification.completed": "verified",
    "eligibility.deferred": "decision_pending",
    "eligibility.decided": "decided",
    "contract.drafted": "contract_drafted",
    "contract.signed": "contract_signed",
    "payment.scheduled": "payments_scheduled",
}
# Events of one application come from several topics, so they arrive in any order: a fact's
# stage only moves forward along this order.
STAGES: tuple[str, ...] = tuple(STAGE_OF_EVENT.values())

UNDECIDED_STAGES = ("submitted", "verified", "decision_pending")

# What a fact holds until the application's own facts arrive (a later event may come first).
NOT_YET_KNOWN: dict[str, Any] = {"region_kato": "000000000", "settlement": "urban", "channel": "unknown",
                                 "members": 0, "scheduled_total": 0}

ProjectedEvent = (ApplicationSubmitted | VerificationCompleted | EligibilityDeferred | EligibilityDecided
                  | ContractDrafted | ContractSigned | PaymentScheduled)


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
        case ContractDrafted() | ContractSigned():
            return FactChange(event.application_id, stage)
    raise TypeError(f"reporting does not project {type(event).__name__}")


def _where(event: ApplicationSubmitted | VerificationCompleted | EligibilityDecided | EligibilityDeferred) -> dict[str, Any]:
    context = event.application
    return {"region_kato": context.region_kato, "settlement": context.settlement, "channel": context.channel}


def undecided(applications_by_stage: dict[str, int]) -> int:
    return sum(applications_by_stage.get(s, 0) for s in UNDECIDED_STAGES)
