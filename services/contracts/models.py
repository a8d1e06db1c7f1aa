from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7


class Base(DeclarativeBase):
    pass


class SocialContract(Base):
    __tablename__ = "social_contracts"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    application_id: Mapped[UUID] = mapped_column(unique=True)
    decision_id: Mapped[UUID]
    status: Mapped[str] = mapped_column(String(20))
    region_kato: Mapped[str] = mapped_column(String(9))
    period_quarter: Mapped[str] = mapped_column(String(7))
    obligations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    drafted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_by: Mapped[str | None] = mapped_column(String(100))
