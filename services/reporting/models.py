from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApplicationFact(Base):
    """One row per application, projected from every service's events."""

    __tablename__ = "application_facts"

    application_id: Mapped[UUID] = mapped_column(primary_key=True)
    region_kato: Mapped[str] = mapped_column(String(9), index=True)
    settlement: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(30), index=True)
    members: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    eligible: Mapped[bool | None] = mapped_column(Boolean)
    kind: Mapped[str | None] = mapped_column(String(15))
    scheduled_total: Mapped[int] = mapped_column(BigInteger, default=0)
