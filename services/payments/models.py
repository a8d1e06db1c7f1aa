from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Date, DateTime, Index, String, UniqueConstraint, func, text
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
    # The social contract was terminated on this day: no month after its month is paid.
    terminated_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Payment(Base):
    """A plan month: what the assignment pays for one month (docs/payments.md)."""

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


class PaymentOrder(Base):
    """One component of one plan month to one account; made by a release or a re-issue."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        # One standing order per (plan month, component): a failed one may be replaced by its
        # re-issue, nothing else; each failed order is re-issued at most once.
        Index("uq_payment_order_live", "payment_id", "component", unique=True,
              postgresql_where=text("status <> 'failed'")),
        UniqueConstraint("reissue_of", name="uq_payment_order_reissue_of"),
        Index("ix_payment_orders_bank_month", "bank_code", "month"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    payment_id: Mapped[UUID] = mapped_column(index=True)
    application_id: Mapped[UUID] = mapped_column(index=True)
    decision_id: Mapped[UUID]
    month: Mapped[str] = mapped_column(String(7))
    component: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    bank_iban: Mapped[str] = mapped_column(String(34))
    bank_code: Mapped[str] = mapped_column(String(11))
    status: Mapped[str] = mapped_column(String(20), index=True)
    batch_id: Mapped[UUID | None] = mapped_column(index=True)
    reissue_of: Mapped[UUID | None]
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


class PaymentBatch(Base):
    """The orders one release sent one bank."""

    __tablename__ = "payment_batches"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    bank_code: Mapped[str] = mapped_column(String(11), index=True)
    month: Mapped[str] = mapped_column(String(7))
    count: Mapped[int]
    total: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaymentAnomaly(Base):
    """A bank report refused and flagged, or a payment that should not have happened."""

    __tablename__ = "payment_anomalies"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    kind: Mapped[str] = mapped_column(String(40))
    bank_code: Mapped[str | None] = mapped_column(String(11))
    month: Mapped[str | None] = mapped_column(String(7), index=True)
    order_id: Mapped[UUID | None]
    amount: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(String(500))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContractFacts(Base):
    """What the contracts service said about an application before payments knew its decision:
    a signature or a termination that arrived first waits here (never dead-lettered)."""

    __tablename__ = "contract_facts"

    application_id: Mapped[UUID] = mapped_column(primary_key=True)
    signed_decision_id: Mapped[UUID | None]
    terminated_on: Mapped[date | None] = mapped_column(Date)
