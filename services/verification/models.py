from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7


class Base(DeclarativeBase):
    pass


class Evidence(Base):
    """The frozen evidence a decision is made on: never updated once written."""

    __tablename__ = "evidence"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    application_id: Mapped[UUID] = mapped_column(unique=True)
    assessment_quarter: Mapped[str] = mapped_column(String(7))
    members: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    incomes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    sources: Mapped[dict[str, Any]] = mapped_column(JSONB)
    collected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # NULL for evidence gathered before the region was kept (migration 0002_evidence_region).
    region_kato: Mapped[str | None] = mapped_column(String(9))


class WaitingApplication(Base):
    """An application whose evidence waits for an external system that is down: verification
    retries it (`next_attempt_at`, with growing, jittered delays) until the system answers or the
    wait has lasted `outage_give_up_after_seconds`. Survives restarts: the retry loop reads it
    from here. `last_error` says how the system failed, never whose data was asked for."""

    __tablename__ = "waiting_applications"
    __table_args__ = (Index("ix_waiting_applications_due", "next_attempt_at"),)

    application_id: Mapped[UUID] = mapped_column(primary_key=True)
    # The application.submitted envelope, handled again when the system answers.
    submitted_event: Mapped[dict[str, Any]] = mapped_column(JSONB)
    system: Mapped[str] = mapped_column(String(40), index=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(String(500))
