"""What the FDC routes read and answer (docs/fdc.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake import invitations
from services.intake.schemas import _DESCRIPTIONS, PROBLEM_EXAMPLES, Iin, _example
from shared.events.contracts import Relation, Settlement, Sex
from shared.iin import iin_problems
from shared.inputs import InputModel, RegisteredKato
from shared.problems import problems as shared_problems

_FAMILY_EXAMPLE = {
    "reference": "fdc-2026-000123", "region_kato": "610000000", "settlement": "rural", "phone": "+77011234567",
    "category": "D", "members": [
        {"iin": "870707450011", "birth_date": "1987-07-07", "sex": "female", "relation": "applicant"},
        {"iin": "180808500015", "birth_date": "2018-08-08", "sex": "male", "relation": "child"}]}


class InvitedPersonIn(InputModel):
    iin: Iin
    birth_date: date = Field(description="Must match the IIN")
    sex: Sex = Field(description="Must match the IIN")
    relation: Relation


class FamilyIn(InputModel):
    """One family the FDC flags. Read on its own: a family that cannot be read is answered
    `invalid` with its fields named, and the rest of the batch goes on."""

    model_config = ConfigDict(json_schema_extra={"examples": [_FAMILY_EXAMPLE]})

    reference: str = Field(min_length=1, max_length=64, pattern=r"^\S+$", description="The FDC's own reference")
    region_kato: RegisteredKato
    settlement: Settlement
    phone: str = Field(pattern=r"^\+7\d{10}$", description="The contact phone the SMS goes to")
    category: Literal["D", "E", "low_income"] | None = Field(
        default=None, description="FDC category D (crisis) or E (emergency), or low income")
    members: list[InvitedPersonIn] = Field(min_length=1, max_length=30)

    @model_validator(mode="after")
    def _one_family(self) -> "FamilyIn":
        problems: list[str] = []
        if sum(m.relation == "applicant" for m in self.members) != 1:
            problems.append("members: exactly one member has relation 'applicant'")
        if len({m.iin for m in self.members}) != len(self.members):
            problems.append("members: an IIN appears twice")
        for i, member in enumerate(self.members):
            for problem in iin_problems(member.iin, member.birth_date, member.sex):
                problems.append(f"members[{i}].iin: {problem}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class InvitationBatchIn(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"families": [_FAMILY_EXAMPLE]}]})

    families: list[dict[str, Any]] = Field(
        min_length=1, max_length=invitations.MAX_BATCH,
        description="Up to 1,000 families, each as `FamilyIn` (read one by one: see `invalid`)")


class FieldErrorOut(BaseModel):
    field: str
    message: str


class FamilyAnswerOut(BaseModel):
    index: int = Field(description="The family's position in the batch, from 0")
    reference: str | None
    outcome: Literal[invitations.OUTCOMES]  # type: ignore[valid-type]
    invitation_id: str | None = None
    reasons: list[str] = Field(default_factory=list, description="Reason codes of the rules, or why not checked")
    errors: list[FieldErrorOut] = Field(default_factory=list, description="For `invalid`: each field named")
    monthly_estimate: int | None = Field(default=None, description="For `invited`: the first month's estimate, ₸")


class InvitationBatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "quarter": "2026-Q2", "assessment_quarter": "2026-Q1",
        "counts": {o: int(o == "invited") for o in invitations.OUTCOMES},
        "families": [{"index": 0, "reference": "fdc-2026-000123", "outcome": "invited",
                      "invitation_id": "0190a1b2-c3d4-7e5f-8a9b-000000000001", "reasons": [], "errors": [],
                      "monthly_estimate": 41210}]}]})

    quarter: str
    assessment_quarter: str
    counts: dict[str, int]
    families: list[FamilyAnswerOut]


class NoticeOut(BaseModel):
    kk: str
    ru: str


class PortalInvitationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0190a1b2-c3d4-7e5f-8a9b-000000000001", "quarter": "2026-Q2", "status": "invited",
        "invited_at": "2026-04-02T05:00:00Z", "apply_by": "2026-07-01",
        "link": "https://egov.kz/cms/ru/services/social_assistance/tsa", "monthly_estimate": 41210,
        "application_id": None, "notice": {"kk": "…", "ru": "…"}}]})

    id: str
    quarter: str
    status: Literal["invited", "applied"]
    invited_at: datetime
    apply_by: date
    link: str
    monthly_estimate: int | None
    application_id: str | None
    notice: NoticeOut


class FunnelRowOut(BaseModel):
    region: str = Field(description="The region's KATO code")
    channel: str
    invited: int
    applied: int
    approved: int
    paid: int = Field(description="Payments scheduled (intake does not see the banks settle)")


class FunnelOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "quarter": "2026-Q2", "region": None,
        "rows": [{"region": "610000000", "channel": "fdc_sms", "invited": 120, "applied": 70, "approved": 52,
                  "paid": 40}],
        "totals": {"invited": 120, "applied": 70, "approved": 52, "paid": 40}}]})

    quarter: str
    region: str | None
    rows: list[FunnelRowOut]
    totals: dict[str, int]


_FDC_EXAMPLES: dict[str, tuple[int, dict[str, Any]]] = {
    "fdc-invite-only": _example(403, "fdc-only", "Only a Family Development Centre invites families",
                                "Invitations are sent by the Family Digital Card."),
    "fdc-missing-scope": _example(403, "forbidden", "Forbidden", "This route needs the scope fdc:invite."),
    "portal-citizen-only": _example(403, "portal-only", "Only the portal reads a citizen's invitations",
                                    "A citizen's invitations are read by the portal acting for the citizen."),
    "stats-missing-scope": _example(403, "forbidden", "Forbidden", "This route needs the scope stats:read."),
    "invalid-batch": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                              ("families", "List should have at most 1000 items after validation, not 1001")),
    "invalid-funnel-query": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                                     ("query.quarter", "String should match pattern '^\\d{4}-Q[1-4]$'")),
}


def fdc_problems(*names: str) -> dict[int | str, dict[str, Any]]:
    when: dict[int, str] = {}
    examples: dict[int, dict[str, dict[str, Any]]] = {}
    for name in names:
        status, example = _FDC_EXAMPLES.get(name) or PROBLEM_EXAMPLES[name]
        when[status] = _DESCRIPTIONS[status]
        examples.setdefault(status, {})[name] = example["value"]
    return shared_problems(when, examples)
