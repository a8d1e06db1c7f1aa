from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text, false, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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
    # The quarter the benefit is for (the quarter of the application date; eligibility's period).
    quarter: Mapped[str | None] = mapped_column(String(7), index=True)
    # The decided monthly totals of an approved decision, summed (whole tenge).
    assigned_total: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # The members by social status (seed 003's categories), counted from the events' members:
    # the categories only, never a person's IIN, name or birth date.
    children: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    employed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    carers: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    students: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    unemployed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    other_status: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # What the consent events said of the family's consent to the expense check (each once true, true).
    consent_requested: Mapped[bool] = mapped_column(Boolean, server_default=false())
    consent_granted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    consent_refused: Mapped[bool] = mapped_column(Boolean, server_default=false())
    consent_expired: Mapped[bool] = mapped_column(Boolean, server_default=false())
    consent_withdrawn: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # The latest `occurred_at` of the events projected into the row.
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContractFact(Base):
    """One row per social contract, from the contracts service's events (any order)."""

    __tablename__ = "contract_facts"

    contract_id: Mapped[UUID] = mapped_column(primary_key=True)
    application_id: Mapped[UUID] = mapped_column(index=True)
    drafted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    signed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    lapsed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    terminated: Mapped[bool] = mapped_column(Boolean, server_default=false())
    completed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContractMeasure(Base):
    """How many of a contract's obligations are of one measure (job placement, training…)."""

    __tablename__ = "contract_measures"

    contract_id: Mapped[UUID] = mapped_column(primary_key=True)
    measure: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class PaymentFact(Base):
    """One row per monthly payment payments scheduled (`payment.scheduled`): the payments ordered."""

    __tablename__ = "payment_facts"

    payment_id: Mapped[UUID] = mapped_column(primary_key=True)
    application_id: Mapped[UUID] = mapped_column(index=True)
    bank_code: Mapped[str] = mapped_column(String(20))
    month: Mapped[str] = mapped_column(String(7))
    total: Mapped[int] = mapped_column(BigInteger)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaymentOrderFact(Base):
    """One row per payment order a bank reported (`payment.settled`, `payment.failed`: an order
    is one component of a month's payment, or its re-issue), in whatever order the reports come."""

    __tablename__ = "payment_orders"

    order_id: Mapped[UUID] = mapped_column(primary_key=True)
    application_id: Mapped[UUID] = mapped_column(index=True)
    bank_code: Mapped[str] = mapped_column(String(20))
    month: Mapped[str] = mapped_column(String(7))
    amount: Mapped[int] = mapped_column(BigInteger)
    settled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    failed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvitationFact(Base):
    """One row per FDC invitation (intake's `fdc.invitation.*`): where and by which channel the
    family was invited, and the application it converted into. No person's data."""

    __tablename__ = "invitation_facts"

    invitation_id: Mapped[UUID] = mapped_column(primary_key=True)
    quarter: Mapped[str | None] = mapped_column(String(7))
    region_kato: Mapped[str | None] = mapped_column(String(9))
    settlement: Mapped[str | None] = mapped_column(String(10))
    channel: Mapped[str | None] = mapped_column(String(20))
    issued: Mapped[bool] = mapped_column(Boolean, server_default=false())
    application_id: Mapped[UUID | None] = mapped_column(index=True)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExtensionFact(Base):
    """One row per family and quarter a reassessment run decided (`eligibility.extended`): extended
    (a recipient of `quarter`, with its amounts summed over the months paid) or not (its assignment
    ends with the quarter before, for `reasons`). Keyed by the application the family applied
    with; a family is decided once per quarter, so the row is written once. Counts and codes only."""

    __tablename__ = "extension_facts"

    application_id: Mapped[UUID] = mapped_column(primary_key=True)
    quarter: Mapped[str] = mapped_column(String(7), primary_key=True, index=True)
    decision_id: Mapped[UUID] = mapped_column()
    run_id: Mapped[UUID] = mapped_column()
    region_kato: Mapped[str] = mapped_column(String(9))
    settlement: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(15))
    eligible: Mapped[bool] = mapped_column(Boolean)
    tsa: Mapped[int] = mapped_column(BigInteger)  # whole tenge, the months paid summed
    child_supplement: Mapped[int] = mapped_column(BigInteger)
    assigned_total: Mapped[int] = mapped_column(BigInteger)
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
