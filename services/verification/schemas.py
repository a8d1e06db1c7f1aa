"""Verification's responses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IncomeOut(_Out):
    iin: str
    type: str
    month: str
    amount: Decimal
    source: str


class EvidenceOut(_Out):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "evidence_id": "0193a1b2-c3d4-7e5f-8a9b-000000000001",
        "application_id": "0193a1b2-c3d4-7e5f-8a9b-000000000002",
        "assessment_quarter": "2026-Q3",
        "incomes": [{"iin": "840303300071", "type": "wage", "month": "2026-07", "amount": "70000.00",
                     "source": "income_registry"}],
        "sources": {"income_registry": {"quarter": "2026-Q3", "members_queried": 2}},
        "collected_at": "2026-11-22T10:00:00Z",
    }]})

    evidence_id: UUID = Field(validation_alias=AliasChoices("evidence_id", "id"))
    application_id: UUID
    assessment_quarter: str
    incomes: list[IncomeOut]
    sources: dict[str, Any]
    collected_at: datetime


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.

