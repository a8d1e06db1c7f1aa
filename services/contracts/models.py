from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7


class Base(DeclarativeBase):
    pass


class SocialContract(Base):
    __tablename__ = "social_contracts"
    # A citizen's contracts are found by membership.
    __table_args__ = (Index("ix_social_contracts_member_iins", "member_iins", postgresql_using="gin"),)

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
    signed_via: Mapped[str | None] = mapped_column(String(100))
    applicant_iin: Mapped[str | None] = mapped_column(String(12))
    member_iins: Mapped[list[str]] = mapped_column(ARRAY(String(12)), server_default=text("'{}'"))
