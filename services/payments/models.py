from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, DateTime, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7


class Base(DeclarativeBase):
    pass


class Assignment(Base):
    """An approved decision's amounts, waiting for a contract or already scheduled."""

    __tablename__ = "assignments"

    decision_id: Mapped[UUID] = mapped_column(primary_key=True)
    application_id: Mapped[UUID] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(15))
    status: Mapped[str] = mapped_column(String(20))
    period_quarter: Mapped[str] = mapped_column(String(7))
    monthly: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    region_kato: Mapped[str] = mapped_column(String(9))
    settlement: Mapped[str] = mapped_column(String(10))
    bank_iban: Mapped[str] = mapped_column(String(34))
    bank_code: Mapped[str] = mapped_column(String(11))
    # The family's members (who may read its payments); empty before migration 0002_payment_family.
    member_iins: Mapped[list[str]] = mapped_column(ARRAY(String(12)), server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        # Every month of an application is paid exactly once, whatever is delivered twice.
        UniqueConstraint("application_id", "month", name="uq_payment_application_month"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    application_id: Mapped[UUID] = mapped_column(index=True)
    decision_id: Mapped[UUID]
    month: Mapped[str] = mapped_column(String(7))
    tsa: Mapped[int] = mapped_column(BigInteger)
    child_supplement: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    bank_iban: Mapped[str] = mapped_column(String(34))
    bank_code: Mapped[str] = mapped_column(String(11), index=True)
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())
