"""The read model: which stage each event marks and what it tells about an application; what the
reconciliation sweep's re-drives and the dead-letter topic tell ops. Pure Python."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import orjson

from shared.business_days import BusinessCalendar
from shared.calendar import ALMATY, Quarter, age_on
from shared.events import Envelope
from shared.events.contracts import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    ConsentExpired,
    ConsentGranted,
    ConsentRefused,
    ConsentRequested,
    ConsentWithdrawn,
    ContractCompleted,
    ContractDrafted,
    ContractLapsed,
    ContractSigned,
    ContractTerminated,
    EligibilityDecided,
    EligibilityDeferred,
    EligibilityExtended,
    FamilyMember,
    FdcInvitationConverted,
    FdcInvitationIssued,
    PaymentFailed,
    PaymentScheduled,
    PaymentSettled,
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
            return FactChange(event.application.application_id, stage, _where(event) | _family(event) | {
                "submitted_at": occurred_at})
        case VerificationWaiting() | VerificationOverdue():
            return FactChange(event.application_id, stage)
        case VerificationCompleted():
            return FactChange(event.application.application_id, stage, _where(event) | _family(event))
        case EligibilityDecided():
            return FactChange(event.application.application_id, stage, _where(event) | _family(event) | {
                "decided_at": occurred_at, "eligible": event.eligible, "kind": event.kind,
                "quarter": event.period_quarter,
                "assigned_total": sum(m.total for m in event.monthly) if event.eligible else 0})
        case EligibilityDeferred():
            return FactChange(event.application.application_id, stage, _where(event))
        case PaymentScheduled():
            return FactChange(event.application_id, stage, {"scheduled_total": event.total})
        case ContractDrafted() | ContractSigned() | ApplicationWithdrawn():
            return FactChange(event.application_id, stage)
    raise TypeError(f"reporting does not project {type(event).__name__}")


def _where(event: ApplicationSubmitted | VerificationCompleted | EligibilityDecided | EligibilityDeferred) -> dict[str, Any]:
    context = event.application
    # The quarter the benefit is for: the quarter of the application date (eligibility's period).
    return {"region_kato": context.region_kato, "settlement": context.settlement, "channel": context.channel,
            "quarter": str(Quarter.of(context.application_date))}


def _family(event: ApplicationSubmitted | VerificationCompleted | EligibilityDecided) -> dict[str, Any]:
    """How many members, and how many of each social status: counts only."""
    return {"members": len(event.members)} | social_statuses(event.members, event.application.application_date)


# ---- social statuses (seed 003: who the recipients are) -----------------------------------------

# Each member is counted once, in the first of these that applies (the columns of the read model).
SOCIAL_STATUSES = ("children", "employed", "carers", "students", "unemployed", "other_status")
# The names the statistics show.
STATUS_NAMES = {"children": "children", "employed": "employed", "carers": "carers", "students": "students",
                "unemployed": "unemployed", "other_status": "other"}
ADULT_AGE = 18
# Retirement ages (rules.md, Kind: able-bodied are 18 to below them). Policy parameters in
# eligibility; a statistic's category uses the values in force since 2024.
RETIREMENT_AGE = {"male": 63, "female": 61}


def social_status(member: FamilyMember, on: date) -> str:
    """The seed 003 category of one member on the application date: a child (under 18); else
    employed at application; a carer (of a child, a disabled or an elderly person); a full-time
    student; unemployed (of working age, able to work, without a job); other (pensioners, people
    with a group 1–2 disability)."""
    age = age_on(member.birth_date, on)
    if age < ADULT_AGE:
        return "children"
    if member.employed:
        return "employed"
    if member.carer:
        return "carers"
    if member.full_time_student:
        return "students"
    if age < RETIREMENT_AGE[member.sex] and member.disability_group not in (1, 2):
        return "unemployed"
    return "other_status"


def social_statuses(members: list[FamilyMember], on: date) -> dict[str, int]:
    counts = dict.fromkeys(SOCIAL_STATUSES, 0)
    for member in members:
        counts[social_status(member, on)] += 1
    return counts


# ---- consent, contracts, payments and FDC invitations ----------------------------------------------

ConsentEvent = ConsentRequested | ConsentGranted | ConsentRefused | ConsentExpired | ConsentWithdrawn
CONSENT_FLAGS = ("consent_requested", "consent_granted", "consent_refused", "consent_expired", "consent_withdrawn")


def consent_flags(event: ConsentEvent) -> tuple[str, ...]:
    """What a consent event tells of its application's consent, as flags that only turn true (so
    the events' order does not matter): a consent was requested (any consent event says so); the
    family's consent as a whole was granted; a member refused, let the deadline pass, or withdrew."""
    flags = ["consent_requested"]
    if event.family_consent == "granted":
        flags.append("consent_granted")
    match event:
        case ConsentRefused():
            flags.append("consent_refused")
        case ConsentExpired():
            flags.append("consent_expired")
        case ConsentWithdrawn():
            flags.append("consent_withdrawn")
    return tuple(flags)


ContractEvent = ContractDrafted | ContractSigned | ContractLapsed | ContractTerminated | ContractCompleted
CONTRACT_FLAG = {"contract.drafted": "drafted", "contract.signed": "signed", "contract.lapsed": "lapsed",
                 "contract.terminated": "terminated", "contract.completed": "completed"}
# The measures a social contract binds an able-bodied member to (shared.events.contracts.Obligation).
MEASURES = ("stay_employed", "job_placement", "public_works", "training", "entrepreneurship_grant")


def contract_measures(event: ContractDrafted) -> dict[str, int]:
    counts: dict[str, int] = {}
    for obligation in event.obligations:
        counts[obligation.measure] = counts.get(obligation.measure, 0) + 1
    return counts


@dataclass(frozen=True, slots=True)
class PaymentPlanned:
    """A monthly payment payments scheduled (ordered) for an application."""

    payment_id: UUID
    application_id: UUID
    bank_code: str
    month: str
    total: int


@dataclass(frozen=True, slots=True)
class OrderReported:
    """A bank's report of one payment order (a component of a month's payment, or a re-issue):
    the flag it turns true, `settled` or `failed`."""

    order_id: UUID
    application_id: UUID
    flag: str
    bank_code: str
    month: str
    amount: int


def payments_planned(event: PaymentScheduled) -> list[PaymentPlanned]:
    return [PaymentPlanned(p.payment_id, event.application_id, event.bank_code, p.month, p.total)
            for p in event.payments]


def order_reported(event: PaymentSettled | PaymentFailed) -> OrderReported:
    """`payment_id` of these events is the order's id (services/payments/domain.py)."""
    flag = "settled" if isinstance(event, PaymentSettled) else "failed"
    return OrderReported(event.payment_id, event.application_id, flag, event.bank_code, event.month, event.total)


def invitation_facts(event: FdcInvitationIssued | FdcInvitationConverted) -> dict[str, Any]:
    """Where and by which channel the family was invited; the application it converted into."""
    facts: dict[str, Any] = {"quarter": event.quarter, "region_kato": event.region_kato, "channel": event.channel}
    match event:
        case FdcInvitationIssued():
            return facts | {"settlement": event.settlement, "issued": True}
        case FdcInvitationConverted():
            return facts | {"application_id": event.application_id}
    raise TypeError(f"not an invitation event: {type(event).__name__}")


# ---- reassessment runs' extensions (issue 12) -----------------------------------------------------

# The reason codes that refuse a family (rules.md: income not below the line, a ban, false
# information, the expense rules, consent not given); an event's other codes describe it.
REFUSING_REASONS = ("INCOME_NOT_BELOW_POVERTY_LINE", "BAN_ACTIVE", "FALSE_INFORMATION", "EXPENSE_PURCHASE",
                    "EXPENSE_LOANS", "EXPENSE_SPENDING", "EXPENSE_DEPOSITS", "CONSENT_NOT_GIVEN")


def extension_facts(event: EligibilityExtended) -> dict[str, Any]:
    """What `eligibility.extended` tells of the family's new quarter: where it lives, whether it is
    a recipient of it and with what amounts (TSA and child supplement, summed over the months
    paid; none when refused), and the reason codes."""
    paid = event.monthly if event.eligible else []
    return {"application_id": event.application_id, "quarter": event.period_quarter,
            "decision_id": event.decision_id, "run_id": event.run_id, "region_kato": event.region_kato,
            "settlement": event.settlement, "kind": event.kind, "eligible": event.eligible,
            "tsa": sum(m.tsa for m in paid), "child_supplement": sum(m.child_supplement for m in paid),
            "assigned_total": sum(m.total for m in paid), "reasons": list(event.reasons)}


# ---- the backlog's age, in business days ---------------------------------------------------------

BACKLOG_BUCKETS = ("0-2", "3-5", "6-10", "over-10")


def business_days_since(submitted_on: date, today: date, calendar: BusinessCalendar | None = None) -> int:
    """The business days after the (Almaty) day of submission up to today, today included: an
    application submitted today is 0 days old, one submitted on Friday is 1 on Monday."""
    calendar = calendar or BusinessCalendar()
    days = 0
    day = submitted_on
    while day < today:
        day = date.fromordinal(day.toordinal() + 1)
        if calendar.is_business_day(day):
            days += 1
    return days


def almaty_date(moment: datetime) -> date:
    return moment.astimezone(ALMATY).date()


def backlog_bucket(business_days: int) -> str:
    if business_days <= 2:
        return "0-2"
    if business_days <= 5:
        return "3-5"
    if business_days <= 10:
        return "6-10"
    return "over-10"


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
