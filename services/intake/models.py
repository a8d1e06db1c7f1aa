from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
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


class ConsentRequest(Base):
    """One adult member's consent to the expense check (services/intake/consent.py): an
    ISO/IEC TS 27560 consent record. The one-time code is never stored, only its salted HMAC."""

    __tablename__ = "consent_requests"
    __table_args__ = (
        UniqueConstraint("application_id", "iin", name="uq_consent_request_member"),
        # The expiry sweep reads open requests by deadline; the SMS dispatcher, those not sent yet.
        Index("ix_consent_requests_open_expires_at", "expires_at", postgresql_where=text("status = 'requested'")),
        Index("ix_consent_requests_unsent", "created_at",
              postgresql_where=text("status = 'requested' AND requested_at IS NULL AND method = 'sms_1414'")),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    iin: Mapped[str] = mapped_column(String(12))
    # Replies by SMS are found by the number they come from.
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    data_categories: Mapped[list[str]] = mapped_column(JSONB)
    assessment_quarter: Mapped[str] = mapped_column(String(7))
    controller: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    banks: Mapped[list[str]] = mapped_column(JSONB)
    method: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_via: Mapped[str | None] = mapped_column(String(6))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    code_salt: Mapped[str | None] = mapped_column(String(32))
    code_hash: Mapped[str | None] = mapped_column(String(64))


class BusinessDayDecree(Base):
    """A day the government decreed non-working, or working, against what the holiday calendar
    says (shared/business_days.py); an administrator records it. One decree per day."""

    __tablename__ = "business_day_decrees"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(300))
    decreed_by: Mapped[str] = mapped_column(String(100))
    decreed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Invitation(Base):
    """A family the Family Digital Card flagged and intake invited to apply (services/intake/fdc.py,
    docs/fdc.md): one per family and quarter; `application_id` once a member applied within the
    window."""

    __tablename__ = "fdc_invitations"
    __table_args__ = (
        # The SMS dispatcher reads the invitations whose SMS is not taken yet.
        Index("ix_fdc_invitations_unsent", "created_at", postgresql_where=text("sms_sent_at IS NULL")),
        Index("ix_fdc_invitations_quarter_region", "quarter", "region_kato"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))  # the FDC's own reference of the family
    quarter: Mapped[str] = mapped_column(String(7))  # the quarter invited in, e.g. 2026-Q2
    assessment_quarter: Mapped[str] = mapped_column(String(7))
    region_kato: Mapped[str] = mapped_column(String(9))
    settlement: Mapped[str] = mapped_column(String(10))
    category: Mapped[str | None] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(20))
    applicant_iin: Mapped[str] = mapped_column(String(12))
    member_iins: Mapped[list[str]] = mapped_column(JSONB)
    monthly_estimate: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # invited | applied
    invited_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_on: Mapped[date] = mapped_column(Date)  # the last day an application counts as converted
    sms_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sms_message_id: Mapped[str | None] = mapped_column(String(100))
    sms_refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    application_id: Mapped[UUID | None] = mapped_column(ForeignKey("applications.id"), index=True)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvitedMember(Base):
    """Who an invitation names, one row a person: a person is invited at most once a quarter
    (the primary key decides, so two batches at once cannot both invite them)."""

    __tablename__ = "fdc_invited_members"

    quarter: Mapped[str] = mapped_column(String(7), primary_key=True)
    iin: Mapped[str] = mapped_column(String(12), primary_key=True, index=True)
    invitation_id: Mapped[UUID] = mapped_column(ForeignKey("fdc_invitations.id"), index=True)
