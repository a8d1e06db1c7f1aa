from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Date, DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7


class Base(DeclarativeBase):
    pass


class ParameterRecord(Base):
    """An effective-dated, bitemporal parameter value: never updated, only superseded by a
    later record, so any past decision can be recomputed as it was made."""

    __tablename__ = "parameters"
    __table_args__ = (Index("ix_parameters_lookup", "name", "region_kato", "valid_from"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(String(60))
    region_kato: Mapped[str | None] = mapped_column(String(9))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    value: Mapped[Any] = mapped_column(JSONB)  # a decimal as a string, a bool, or a list of income types
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    recorded_by: Mapped[str] = mapped_column(String(100))


class DecisionRecord(Base):
    __tablename__ = "decisions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    application_id: Mapped[UUID] = mapped_column(unique=True)
    evidence_id: Mapped[UUID]
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rules_version: Mapped[str] = mapped_column(String(40))
    case_input: Mapped[dict[str, Any]] = mapped_column(JSONB)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)


class PendingDecision(Base):
    """Evidence that could not be decided yet because a parameter was missing; retried whenever
    parameters change."""

    __tablename__ = "pending_decisions"

    application_id: Mapped[UUID] = mapped_column(primary_key=True)
    evidence_event: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the verification.completed envelope
    reason: Mapped[str] = mapped_column(String(500))
    deferred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContractTermination(Base):
    """A member's social contract was terminated through the recipient's fault (art. 128), as
    contracts announced it: one row per member of the family, so a later application containing
    any of them is found by IIN. The ban's length is the rules' (`ban_months` on `terminated_on`)."""

    __tablename__ = "contract_terminations"
    __table_args__ = (Index("ix_contract_terminations_iin", "iin", "terminated_on"),)

    contract_id: Mapped[UUID] = mapped_column(primary_key=True)
    iin: Mapped[str] = mapped_column(String(12), primary_key=True)
    terminated_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(20))
