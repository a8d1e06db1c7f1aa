from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
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


class Redrive(Base):
    """The reconciliation sweep's re-drives of one application stuck in one status (from
    `reconciliation.requested`)."""

    __tablename__ = "redrives"

    application_id: Mapped[UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(30), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    first_requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeadLetter(Base):
    """One service's failure to handle one event, from the dead-letter topic: what an operator
    lists, inspects and replays. `error` names fields and systems, never values; `envelope` is the
    original event, kept only to replay it and never shown (it may carry a family's data)."""

    __tablename__ = "dead_letters"

    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    failed_in: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100), index=True)
    key: Mapped[str] = mapped_column(String(200))
    original_topic: Mapped[str] = mapped_column(String(200))
    error: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    times: Mapped[int] = mapped_column(Integer)  # the first failure, and each replay that failed again
    envelope: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replay_id: Mapped[str | None] = mapped_column(String(40))
    replays: Mapped[int] = mapped_column(Integer, default=0)
