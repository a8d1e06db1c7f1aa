"""Contracts' responses."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ObligationOut(_Out):
    iin: str
    measure: str


class ContractOut(_Out):
    id: UUID
    application_id: UUID
    decision_id: UUID
    status: str
    region_kato: str
    period_quarter: str
    obligations: list[ObligationOut]
    drafted_at: datetime | None
    signed_at: datetime | None
