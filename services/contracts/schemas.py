"""Contracts' requests and responses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.inputs import InputModel

Iin = Annotated[str, Field(pattern=r"^\d{12}$", description="Individual identification number (12 digits)")]
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2099, 12, 31))]
Text = Annotated[str, Field(max_length=2000)]
MeasureKind = Literal["job_placement", "public_works", "temporary_employment", "training", "entrepreneurship_grant",
                      "stay_employed"]
MeasureStatus = Literal["offered", "accepted", "in_progress", "completed", "refused"]
Outcome = Literal["permanent_job", "temporary_job", "grant", "training_completed"]
BreachKind = Literal["refused_measures", "non_fulfilment"]


class MeasureIn(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"member_iin": "900505400013", "measure": "training", "note": "Referred to welding course, start 2027-01-10"}]})

    member_iin: Iin = Field(description="An able-bodied member the contract's obligations name")
    measure: MeasureKind
    note: Text = ""


class MeasureUpdate(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "completed", "note": "Hired as a welder, permanent contract", "on": "2027-02-20",
         "outcome": "permanent_job"}]})

    status: MeasureStatus = Field(description="offered → accepted | refused; accepted → in_progress | completed | "
                                              "refused; in_progress → completed | refused; the same status again "
                                              "adds a note. `refused` terminates the contract on `on`.")
    note: Text = Field(min_length=1)
    on: Day = Field(description="The day the step happened: not before the measure's last note, the signing or "
                                "after today")
    outcome: Outcome | None = Field(default=None, description="Only with `completed`; one the measure can lead to")


class BreachIn(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"member_iin": "900505400013", "kind": "non_fulfilment", "occurred_on": "2027-01-14",
         "evidence": "Did not attend the training for three weeks; centre's letter 14/01"}]})

    member_iin: Iin
    kind: BreachKind = Field(description="refused_measures terminates the contract at once (on `occurred_on`); "
                                         "non_fulfilment waits for a case worker's decision")
    occurred_on: Day
    evidence: Text = Field(min_length=1)


class TerminationIn(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"breach_id": "0193a1b2-c3d4-7e5f-8a9b-000000000009", "terminated_on": "2027-01-20"}]})

    breach_id: UUID = Field(description="A breach recorded on this contract")
    terminated_on: Day = Field(description="Not before the breach, the signing or after today")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ObligationOut(_Out):
    iin: str
    measure: str


class NoteOut(_Out):
    on: date
    status: str
    note: str
    at: datetime
    by: str


class MeasureOut(_Out):
    id: UUID
    member_iin: str
    measure: str
    status: str
    outcome: str | None
    notes: list[NoteOut] = Field(description="Dated notes, in the order of their days")


class BreachOut(_Out):
    id: UUID
    member_iin: str
    kind: str
    occurred_on: date
    evidence: str
    recorded_at: datetime
    recorded_by: str
    measure_id: UUID | None


class ContractText(BaseModel):
    kk: str = Field(description="In Kazakh")
    ru: str = Field(description="In Russian")


class OutcomeCount(BaseModel):
    measure: str
    offered: int = 0
    accepted: int = 0
    in_progress: int = 0
    completed: int = 0
    refused: int = 0


class OutcomesOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "region": "61", "period_quarter": "2026-Q4",
        "outcomes": {"permanent_job": 3, "temporary_job": 5, "grant": 1, "training_completed": 2},
        "measures": [{"measure": "training", "offered": 1, "accepted": 0, "in_progress": 2, "completed": 2,
                      "refused": 0}]}]})

    region: str | None
    period_quarter: str | None
    outcomes: dict[str, int] = Field(description="Completed measures per outcome category (seed 003): placed in "
                                                 "permanent jobs, temporary jobs, grants, training completed")
    measures: list[OutcomeCount] = Field(description="Measures per kind and current status")


class ContractOut(_Out):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193a1b2-c3d4-7e5f-8a9b-000000000004", "application_id": "0193a1b2-c3d4-7e5f-8a9b-000000000002",
        "decision_id": "0193a1b2-c3d4-7e5f-8a9b-000000000003", "status": "signed", "region_kato": "610000000",
        "period_quarter": "2026-Q4", "obligations": [{"iin": "900505400013", "measure": "job_placement"}],
        "applicant_iin": "900505400013", "drafted_at": "2026-11-23T08:00:00Z",
        "signed_at": "2026-11-25T12:00:00Z", "signed_by": "900505400013", "signed_via": "portal-egov",
    }]})

    id: UUID
    application_id: UUID
    decision_id: UUID
    status: str
    region_kato: str
    period_quarter: str
    obligations: list[ObligationOut]
    applicant_iin: str | None = Field(description="The member who signs (null for contracts drafted before it "
                                                  "was kept)")
    drafted_at: datetime | None
    signed_at: datetime | None
    signed_by: str | None = Field(description="The IIN of the citizen who signed")
    signed_via: str | None = Field(description="The portal that relayed the signature")
    sign_by: datetime | None = Field(default=None, description="Unsigned at this instant, the contract lapses")
    ends_on: date | None = Field(default=None, description="The last day of the assignment period")
    text: ContractText | None = None
    measures: list[MeasureOut] = []
    breaches: list[BreachOut] = []
    lapsed_at: datetime | None = None
    terminated_on: date | None = None
    termination_reason: str | None = None
    termination_breach_id: UUID | None = None
    completed_on: date | None = None


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.

