from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.ids import uuid7


class Base(DeclarativeBase):
    pass


class Application(Base):
    __tablename__ = "applications"
    # The reconciliation sweep looks for applications long in one status.
    __table_args__ = (Index("ix_applications_status_updated_at", "status", "updated_at"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    status: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(20))
    region_kato: Mapped[str] = mapped_column(String(9), index=True)
    settlement: Mapped[str] = mapped_column(String(10))
    application_date: Mapped[date] = mapped_column(Date)
    extension: Mapped[bool] = mapped_column(Boolean, default=False)
    expense_check_consent: Mapped[bool] = mapped_column(Boolean)
    bank_iban: Mapped[str] = mapped_column(String(34))
    bank_code: Mapped[str] = mapped_column(String(11))
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    contract_id: Mapped[UUID | None]

    members: Mapped[list["ApplicationMember"]] = relationship(
        back_populates="application", order_by="ApplicationMember.position", lazy="selectin")
    timeline: Mapped[list["StatusChange"]] = relationship(order_by=lambda: [StatusChange.at, StatusChange.id], lazy="selectin")


class ApplicationMember(Base):
    __tablename__ = "application_members"
    __table_args__ = (
        # One active application per person: a second one is refused by the database itself,
        # so two concurrent submissions cannot both pass.
        Index("uq_member_active_iin", "iin", unique=True, postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    iin: Mapped[str] = mapped_column(String(12))
    full_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(6))
    relation: Mapped[str] = mapped_column(String(12))
    phone: Mapped[str | None] = mapped_column(String(20))
    employed: Mapped[bool] = mapped_column(Boolean, default=False)
    full_time_student: Mapped[bool] = mapped_column(Boolean, default=False)
    disability_group: Mapped[int | None]
    carer: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    application: Mapped[Application] = relationship(back_populates="members")


class StatusChange(Base):
    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    status: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    event_id: Mapped[UUID | None]
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ParticipatingBank(Base):
    """The banks that pay social benefits into their customers' accounts; an administrator
    maintains the table (seeded from the national bank registry schwifty ships)."""

    __tablename__ = "participating_banks"
    __table_args__ = (
        # An IBAN names its bank by this code: among active banks it names one.
        Index("uq_participating_bank_active_code", "code", unique=True, postgresql_where=text("active")),
    )

    bic: Mapped[str] = mapped_column(String(8), primary_key=True)
    code: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(100))


class ParameterReplica(Base):
    """The values of the policy parameters intake applies itself (eligibility owns them and
    announces each with `parameter.recorded`)."""

    __tablename__ = "parameter_replica"

    parameter_id: Mapped[UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    region_kato: Mapped[str | None] = mapped_column(String(9))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    value: Mapped[Any] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Redrive(Base):
    """The reconciliation sweep's re-drives of an application stuck in a status: how many so far
    (at most the configured maximum) and when the next one is due."""

    __tablename__ = "redrives"

    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(30), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
