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
    evidence_id: UUID = Field(validation_alias=AliasChoices("evidence_id", "id"))
    application_id: UUID
    assessment_quarter: str
    incomes: list[IncomeOut]
    sources: dict[str, Any]
    collected_at: datetime
