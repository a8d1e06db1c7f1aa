from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger, Boolean, Date, DateTime, Index, Integer, Numeric, SmallInteger, String, UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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


class Assignment(Base):
    """The register (issue 12): a family's assignment for one quarter, as eligibility decided it —
    on the single path (an approved application) or by a reassessment run (`extension`, eligible or
    not). Columns, not JSON, so a million families are read with one plain SELECT; the primary key
    (family, quarter) makes deciding a family twice for a quarter impossible.

    `family_id` is stable across quarters: the id of the application that first founded the
    assignment (extensions keep it, and keep `application_id`). `reasons` is a bitmask over
    `domain.decision.REASON_CODES` (bit i = REASON_CODES[i]). Amounts are whole tenge per month
    paid (`months` 'YYYY-MM'). `composition` fingerprints the members (see `register.composition_of`).
    `state` is `active` or `ended` (`ended_reason`: withdrawn, contract_lapsed, not_eligible)."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("decision_id", name="uq_assignments_decision"),
        Index("ix_assignments_quarter", "period_quarter", "family_id"),
        Index("ix_assignments_application", "application_id"),
    )

    family_id: Mapped[UUID] = mapped_column(primary_key=True)
    period_quarter: Mapped[str] = mapped_column(String(7), primary_key=True)
    application_id: Mapped[UUID]
    decision_id: Mapped[UUID]
    run_id: Mapped[UUID | None]
    extension: Mapped[bool] = mapped_column(Boolean)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    application_date: Mapped[date] = mapped_column(Date)
    region_kato: Mapped[str] = mapped_column(String(9))
    settlement: Mapped[str] = mapped_column(String(5))
    eligible: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str | None] = mapped_column(String(13))
    poverty_line: Mapped[int] = mapped_column(Integer)
    per_capita_income: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reasons: Mapped[int] = mapped_column(Integer)
    rules_version: Mapped[str] = mapped_column(String(40))
    months: Mapped[list[str]] = mapped_column(ARRAY(String(7)))
    tsa: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    child_supplement: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    total: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    quarter_total: Mapped[int] = mapped_column(BigInteger)
    member_count: Mapped[int] = mapped_column(SmallInteger)
    composition: Mapped[str] = mapped_column(String(32))
    contract_state: Mapped[str] = mapped_column(String(10), server_default="none")
    state: Mapped[str] = mapped_column(String(6), server_default="active")
    ended_reason: Mapped[str | None] = mapped_column(String(30))


class AssignmentMember(Base):
    """A member of a family in the register, in the order of the application (the composition the
    family was last decided with; a family whose members change is listed for a case worker)."""

    __tablename__ = "assignment_members"
    __table_args__ = (Index("ix_assignment_members_iin", "iin"),)

    family_id: Mapped[UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    iin: Mapped[str] = mapped_column(String(12))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(6))
    relation: Mapped[str] = mapped_column(String(11))
    employed: Mapped[bool] = mapped_column(Boolean)
    full_time_student: Mapped[bool] = mapped_column(Boolean)
    disability_group: Mapped[int | None] = mapped_column(SmallInteger)
    carer: Mapped[bool] = mapped_column(Boolean)


class ReassessmentRun(Base):
    """One reassessment run per quarter (a unique index), with its progress: `after_family_id` is
    the last family of the last committed chunk, so a run stopped at any point resumes there."""

    __tablename__ = "reassessment_runs"
    __table_args__ = (Index("uq_reassessment_runs_quarter", "quarter", unique=True),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    quarter: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(9))  # running | stopped | failed | completed
    phase: Mapped[str] = mapped_column(String(20))  # counting | deciding | done
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    families_total: Mapped[int] = mapped_column(Integer, server_default="0")
    families_done: Mapped[int] = mapped_column(Integer, server_default="0")
    chunks_done: Mapped[int] = mapped_column(Integer, server_default="0")
    after_family_id: Mapped[UUID | None]
    error: Mapped[str | None] = mapped_column(String(500))
    # extended, ended by reason, listed for review by reason, amounts by region (run.py)
    totals: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class ReassessmentReview(Base):
    """A family a run did not extend because its composition changed: a case worker looks at it."""

    __tablename__ = "reassessment_reviews"

    run_id: Mapped[UUID] = mapped_column(primary_key=True)
    family_id: Mapped[UUID] = mapped_column(primary_key=True)
    application_id: Mapped[UUID]
    region_kato: Mapped[str] = mapped_column(String(9))
    reason: Mapped[str] = mapped_column(String(30))
    listed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
