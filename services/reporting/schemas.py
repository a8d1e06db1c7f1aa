"""Reporting's requests and responses: figures as integers (families, people, whole tenge) —
statistics only, never a person's data; dead letters by their metadata, never their content."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
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
    extended_families: int = Field(0, description="Families whose latest reassessment extended them")
    extension_ended_families: int = Field(0, description="Families whose latest reassessment did not extend them")


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
    extended_families: int = Field(0, description="Families whose latest reassessment extended them")
    extension_ended_families: int = Field(0, description="Families whose latest reassessment did not extend them")


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


# ---- the dashboard (GET /v1/stats/dashboard; /work/helpers/dashboard_contract.md) ------------------

class LocalisedName(BaseModel):
    en: str
    ru: str
    kk: str


class HeadlineOut(BaseModel):
    applications: int
    decided: int
    approved: int
    rejected: int
    undecided: int
    withdrawn: int
    recipient_families: int = Field(description="Approved families (not withdrawn since) and families a "
                                                "reassessment run extended; each family once, as its latest "
                                                "quarter in the scope says (a refused extension ends it)")
    recipient_people: int = Field(description="The members of those families (as their application told)")
    amount_assigned: int = Field(description="Whole tenge: the decided monthly totals of those families, summed "
                                             "over their quarters in the scope (extensions included)")
    amount_paid: int = Field(description="Whole tenge: the payments the banks settled")


class DashboardRegionOut(BaseModel):
    region_kato: str
    name: LocalisedName
    applications: int
    approved: int
    recipient_families: int
    recipient_people: int
    amount_assigned: int
    backlog: int


class SettlementOut(BaseModel):
    settlement: Literal["urban", "rural"]
    applications: int
    recipient_families: int
    recipient_people: int
    amount_assigned: int


class SocialStatusOut(BaseModel):
    status: Literal["children", "employed", "carers", "students", "unemployed", "other"]
    people: int


class BucketOut(BaseModel):
    bucket: Literal["0-2", "3-5", "6-10", "over-10"]
    count: int


class BacklogRegionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    region_kato: str
    days_0_2: int = Field(alias="0-2", serialization_alias="0-2")
    days_3_5: int = Field(alias="3-5", serialization_alias="3-5")
    days_6_10: int = Field(alias="6-10", serialization_alias="6-10")
    over_10: int = Field(alias="over-10", serialization_alias="over-10")
    total: int


class OldestOut(BaseModel):
    application_id: UUID
    region_kato: str
    stage: str
    submitted_at: datetime
    business_days: int


class DashboardBacklogOut(BaseModel):
    total: int = Field(description="Undecided applications")
    buckets: list[BucketOut] = Field(description="By business days since submission (Almaty calendar)")
    by_region: list[BacklogRegionOut]
    oldest: list[OldestOut] = Field(description="At most 10, the oldest first; no personal data")


class ConsentOutcomesOut(BaseModel):
    requested: int = Field(description="Applications whose family was asked to consent to the expense check")
    granted: int = Field(description="Applications whose family consent was granted (every adult)")
    refused: int = Field(description="Applications where an adult refused")
    expired: int = Field(description="Applications where an adult let the deadline pass")
    withdrawn: int = Field(description="Applications where an adult withdrew a consent given")


class FunnelCountsOut(BaseModel):
    invited: int
    applied: int
    approved: int
    paid: int = Field(description="Payments ordered for the application (as intake's own funnel counts them)")


class FunnelRegionOut(FunnelCountsOut):
    region_kato: str


class FunnelChannelOut(FunnelCountsOut):
    channel: str


class FunnelOut(BaseModel):
    totals: FunnelCountsOut
    by_region: list[FunnelRegionOut]
    by_channel: list[FunnelChannelOut]


class MeasureOut(BaseModel):
    measure: str
    count: int


class ContractsOut(BaseModel):
    drafted: int
    signed: int
    lapsed: int
    terminated: int
    completed: int
    measures: list[MeasureOut] = Field(description="The obligations of the contracts drafted, by measure")


class BankPaymentsOut(BaseModel):
    bank_code: str
    ordered: int
    settled: int
    failed: int
    amount_ordered: int
    amount_settled: int


class MonthPaymentsOut(BaseModel):
    month: str
    ordered: int
    settled: int
    failed: int
    amount_settled: int


class PaymentsOut(BaseModel):
    by_bank: list[BankPaymentsOut]
    by_month: list[MonthPaymentsOut]


def _region_example(kato: str, en: str, ru: str, kk: str, figures: tuple[int, ...]) -> dict:
    names = ("applications", "approved", "recipient_families", "recipient_people", "amount_assigned", "backlog")
    return {"region_kato": kato, "name": {"en": en, "ru": ru, "kk": kk}, **dict(zip(names, figures))}


_DASHBOARD_EXAMPLE = {
    "quarter": "2027-Q1", "region_kato": None, "as_of": "2027-01-20T09:15:02Z",
    "headline": {"applications": 120, "decided": 100, "approved": 80, "rejected": 20, "undecided": 18,
                 "withdrawn": 2, "recipient_families": 79, "recipient_people": 418, "amount_assigned": 9250000,
                 "amount_paid": 3100000},
    "regions": [
        _region_example("610000000", "Turkestan region", "Туркестанская область", "Түркістан облысы",
                        (25, 17, 17, 90, 1990000, 4)),
        _region_example("790000000", "Shymkent", "Шымкент", "Шымкент", (14, 9, 9, 47, 1040000, 2)),
    ],
    "settlement": [
        {"settlement": "urban", "applications": 66, "recipient_families": 43, "recipient_people": 230,
         "amount_assigned": 5090000},
        {"settlement": "rural", "applications": 54, "recipient_families": 36, "recipient_people": 188,
         "amount_assigned": 4160000}],
    "social_status": [{"status": "children", "people": 278}, {"status": "employed", "people": 60},
                      {"status": "carers", "people": 51}, {"status": "students", "people": 16},
                      {"status": "unemployed", "people": 6}, {"status": "other", "people": 7}],
    "backlog": {
        "total": 18,
        "buckets": [{"bucket": "0-2", "count": 11}, {"bucket": "3-5", "count": 4}, {"bucket": "6-10", "count": 2},
                    {"bucket": "over-10", "count": 1}],
        "by_region": [{"region_kato": "610000000", "0-2": 2, "3-5": 1, "6-10": 0, "over-10": 1, "total": 4}],
        "oldest": [{"application_id": "0193a1b2-c3d4-7e5f-8a9b-000000000001", "region_kato": "610000000",
                    "stage": "verification_overdue", "submitted_at": "2026-12-28T05:00:00Z", "business_days": 14}]},
    "consent": {"requested": 40, "granted": 34, "refused": 3, "expired": 2, "withdrawn": 1},
    "fdc_funnel": {
        "totals": {"invited": 50, "applied": 21, "approved": 15, "paid": 12},
        "by_region": [{"region_kato": "610000000", "invited": 12, "applied": 6, "approved": 4, "paid": 3}],
        "by_channel": [{"channel": "fdc_sms", "invited": 50, "applied": 21, "approved": 15, "paid": 12}]},
    "contracts": {"drafted": 30, "signed": 27, "lapsed": 2, "terminated": 1, "completed": 0,
                  "measures": [{"measure": "job_placement", "count": 18}, {"measure": "stay_employed", "count": 9},
                               {"measure": "training", "count": 3}, {"measure": "public_works", "count": 1},
                               {"measure": "entrepreneurship_grant", "count": 0}]},
    "payments": {
        "by_bank": [{"bank_code": "HSBKKZKX", "ordered": 120, "settled": 80, "failed": 2,
                     "amount_ordered": 4650000, "amount_settled": 3100000}],
        "by_month": [{"month": "2027-01", "ordered": 120, "settled": 80, "failed": 2, "amount_settled": 3100000}]},
    "extensions": {
        "extended": 90, "ended": 12, "amount_assigned": 10800000, "tsa": 9600000, "child_supplement": 1200000,
        "ended_by_reason": [{"reason": "INCOME_NOT_BELOW_POVERTY_LINE", "families": 11},
                            {"reason": "BAN_ACTIVE", "families": 1}],
        "by_region": [{"region_kato": "610000000", "extended": 90, "ended": 12, "amount_assigned": 10800000}],
        "settlement": [{"settlement": "urban", "extended": 40, "ended": 5, "amount_assigned": 4800000},
                       {"settlement": "rural", "extended": 50, "ended": 7, "amount_assigned": 6000000}]},
}


class ExtensionReasonOut(BaseModel):
    reason: str = Field(description="A reason code that refuses (INCOME_NOT_BELOW_POVERTY_LINE, BAN_ACTIVE, …)")
    families: int


class ExtensionGroupOut(BaseModel):
    extended: int = Field(description="Families a reassessment run extended (recipients of the new quarter)")
    ended: int = Field(description="Families a run did not extend: their assignment ended with the quarter before")
    amount_assigned: int = Field(description="Whole tenge assigned to the extended families (TSA + child supplement)")


class ExtensionRegionOut(ExtensionGroupOut):
    region_kato: str


class ExtensionSettlementOut(ExtensionGroupOut):
    settlement: Literal["urban", "rural"]


class ExtensionsOut(ExtensionGroupOut):
    """What reassessment runs decided for the quarter(s) in scope (`eligibility.extended`)."""

    tsa: int = Field(description="Whole tenge of TSA assigned to the extended families")
    child_supplement: int = Field(description="Whole tenge of child supplement assigned to them")
    ended_by_reason: list[ExtensionReasonOut] = Field(description="Families not extended, per refusing reason "
                                                                  "(a family refused for two counts under both)")
    by_region: list[ExtensionRegionOut] = Field(description="Regions with an extension decided, the largest "
                                                            "amount first")
    settlement: list[ExtensionSettlementOut]


class DashboardOut(BaseModel):
    """Everything the ops dashboard shows, counts and whole tenge only (never a person's data)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DASHBOARD_EXAMPLE]})

    quarter: str | None = Field(description="The quarter filtered on (the quarter the benefit is for), or null")
    region_kato: str | None = Field(description="The region filtered on (a KATO code; its first two digits), or null")
    as_of: datetime | None = Field(description="The time of the latest event projected (null: none yet)")
    headline: HeadlineOut
    regions: list[DashboardRegionOut] = Field(description="Every region, the largest amount assigned first")
    settlement: list[SettlementOut]
    social_status: list[SocialStatusOut] = Field(description="Recipients by seed 003's social statuses")
    backlog: DashboardBacklogOut
    consent: ConsentOutcomesOut
    fdc_funnel: FunnelOut
    contracts: ContractsOut
    payments: PaymentsOut
    extensions: ExtensionsOut


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

