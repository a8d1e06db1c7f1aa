from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, DateTime, Index, Integer, String, UniqueConstraint, func
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
    # Issue 10 (migration 0004_expense_check): purchases of the quarter, the expense facts the
    # rules read (NULL: expenses not checked), the adults' consent records, the banks' answers.
    purchases: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    expenses: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    consents: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    bank_answers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")


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


class ExpenseCheck(Base):
    """Where an application's evidence stands while it waits for the family's consent and the
    banks' answers (services/verification/expenses.py). Every change to it, its bank requests
    or its evidence is made holding this row's lock."""

    __tablename__ = "expense_checks"
    __table_args__ = (Index("ix_expense_checks_deadline", "bank_deadline",
                            postgresql_where="NOT frozen AND overdue_at IS NULL"),)

    application_id: Mapped[UUID] = mapped_column(primary_key=True)
    # The application.submitted envelope: the cause of the events the check emits.
    submitted_event: Mapped[dict[str, Any]] = mapped_column(JSONB)
    consent_required: Mapped[bool] = mapped_column(Boolean)
    family_consent: Mapped[str] = mapped_column(String(10))
    consents: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The registries' facts once gathered: {"incomes", "purchases", "sources"}.
    gathered: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    banks_asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    bank_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)


class BankRequestRow(Base):
    """One person's cash-flow aggregates asked of one bank; `id` travels to the bank and back.
    Written (and committed) before the bank is called — by the bank request dispatcher, which
    retries while the bank is down (`attempts`, `next_attempt_at`) — so that an answer, however
    fast, always finds its request."""

    __tablename__ = "bank_requests"
    __table_args__ = (UniqueConstraint("application_id", "bank_code", "iin"),
                      Index("ix_bank_requests_to_send", "next_attempt_at", postgresql_where="acknowledged_at IS NULL"))

    id: Mapped[UUID] = mapped_column(primary_key=True)
    application_id: Mapped[UUID] = mapped_column(index=True)
    bank_code: Mapped[str] = mapped_column(String(11))
    iin: Mapped[str] = mapped_column(String(12))
    quarter: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
