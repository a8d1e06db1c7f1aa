"""Contracts' responses."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ObligationOut(_Out):
    iin: str
    measure: str


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


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.

