"""Reporting's requests and responses: figures as integers (families, people, whole tenge) —
statistics only, never a person's data; dead letters by their metadata, never their content."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field





class SummaryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "applications_by_stage": {"payments_scheduled": 2, "decided": 1, "submitted": 4},
        "approved_families": 2, "rejected_families": 1, "recipients": 5, "scheduled_total_tenge": 102384,
        "undecided": 4}]})

    applications_by_stage: dict[str, int]
    approved_families: int
    rejected_families: int
    recipients: int
    scheduled_total_tenge: int
    undecided: int


class RegionStatsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "region_kato": "470000000", "region": "Mangystau", "applications": 7, "approved_families": 2,
        "recipients": 5, "undecided": 4, "scheduled_total_tenge": 102384}]})

    region_kato: str
    region: str | None
    applications: int
    approved_families: int
    recipients: int
    undecided: int
    scheduled_total_tenge: int


class BacklogStatusOut(BaseModel):
    status: str = Field(description="The application status the reconciliation sweep re-drives")
    stage: str = Field(description="The stage of this read model it is")
    applications: int = Field(description="Applications in that stage now")
    redriven: int = Field(description="Applications the sweep re-drove in that status")
    still_stuck: int = Field(description="Of those, still in that stage")
    left_to_operator: int = Field(description="Of those, given their last re-drive: an operator must look")


class DeadLetterCountsOut(BaseModel):
    unreplayed: int = Field(description="Events not replayed since they last failed")
    total: int = Field(description="Events ever dead-lettered")


class BacklogOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "statuses": [
            {"status": "submitted", "stage": "submitted", "applications": 4, "redriven": 1, "still_stuck": 0,
             "left_to_operator": 0},
            {"status": "verified", "stage": "verified", "applications": 2, "redriven": 2, "still_stuck": 1,
             "left_to_operator": 0},
            {"status": "approved", "stage": "decided", "applications": 7, "redriven": 0, "still_stuck": 0,
             "left_to_operator": 0},
            {"status": "contract_signed", "stage": "contract_signed", "applications": 1, "redriven": 0,
             "still_stuck": 0, "left_to_operator": 0}],
        "waiting_for_systems": 3, "verification_overdue": 1, "undecided": 9, "dead_letters": {"unreplayed": 1, "total": 4}}]})

    statuses: list[BacklogStatusOut]
    waiting_for_systems: int = Field(description="Applications whose verification waits for an external system "
                                                 "that is down (it resumes by itself)")
    verification_overdue: int = Field(description="Applications waiting for a bank that has not answered their "
                                                  "cash-flow request by its deadline (never decided on missing data)")
    undecided: int
    dead_letters: DeadLetterCountsOut


# ---- dead letters ---------------------------------------------------------------------------------

_DEAD_LETTER_EXAMPLE = {
    "event_id": "0193a1b2-c3d4-7e5f-8a9b-000000000001", "event_type": "application.submitted",
    "key": "0193a1b2-c3d4-7e5f-8a9b-000000000002", "original_topic": "qamqor.intake", "failed_in": "verification",
    "error": "income_registry unavailable: waited 6.0 h since 2026-12-05T08:00:00+00:00 (41 failed calls); last: "
             "the income registry answered 503",
    "first_seen_at": "2026-12-05T14:00:00Z", "last_seen_at": "2026-12-05T14:00:00Z", "times": 1,
    "replayable": True, "pending": True, "replayed_at": None, "replay_id": None, "replays": 0}


class DeadLetterOut(BaseModel):
    """One service's failure of one event; never the event's content."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_DEAD_LETTER_EXAMPLE]})

    event_id: UUID
    event_type: str
    key: str = Field(description="The application (or family) the event is about")
    original_topic: str
    failed_in: str = Field(description="The service that could not handle it")
    error: str = Field(description="Why: fields and systems are named, never values")
    first_seen_at: datetime
    last_seen_at: datetime
    times: int = Field(description="How often it failed there: the first time, and after each replay that failed "
                                   "again (the same dead letter delivered twice counts once)")
    replayable: bool = Field(description="False when the message was not an event (undecodable): nothing to replay")
    pending: bool = Field(description="Not replayed since it last failed")
    replayed_at: datetime | None
    replay_id: str | None
    replays: int


class FailureOut(BaseModel):
    failed_in: str
    error: str
    first_seen_at: datetime
    last_seen_at: datetime
    times: int
    pending: bool


class DeadLetterEventOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **{k: _DEAD_LETTER_EXAMPLE[k] for k in ("event_id", "event_type", "key", "original_topic", "replayable",
                                                "replayed_at", "replay_id", "replays")},
        "failures": [{k: _DEAD_LETTER_EXAMPLE[k] for k in ("failed_in", "error", "first_seen_at", "last_seen_at",
                                                           "times", "pending")}]}]})

    event_id: UUID
    event_type: str
    key: str
    original_topic: str
    replayable: bool
    replayed_at: datetime | None
    replay_id: str | None
    replays: int
    failures: list[FailureOut]


EventType = Annotated[str, Field(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=100, examples=["application.submitted"])]
ServiceName = Annotated[str, Field(pattern=r"^[a-z_]+$", max_length=40, examples=["verification"])]
TopicName = Annotated[str, Field(pattern=r"^qamqor\.[a-z-]+$", max_length=200, examples=["qamqor.intake"])]


class ReplayIn(BaseModel):
    """Which dead letters to replay: every one (`all`), or those matching every filter given."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"failed_in": "verification", "event_type": "application.submitted"}, {"all": True}]})

    all: bool = False
    event_type: EventType | None = None
    failed_in: ServiceName | None = None
    original_topic: TopicName | None = None
    include_replayed: bool = Field(default=False, description="Also those replayed since they last failed")


class ReplayOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "replay_id": "0193a1b2-c3d4-7e5f-8a9b-000000000009",
        "replayed": ["0193a1b2-c3d4-7e5f-8a9b-000000000001"], "remaining": 0}]})

    replay_id: str | None = Field(description="Carried by each replayed event (header x-qamqor-replay); null when "
                                              "nothing matched")
    replayed: list[UUID]
    remaining: int = Field(description="Matching events left for another call (at most 500 are replayed at once)")


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.

