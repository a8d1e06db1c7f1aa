from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Date, DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import uuid7


class Base(DeclarativeBase):
    pass


class SocialContract(Base):
    __tablename__ = "social_contracts"
    # A citizen's contracts are found by membership.
    __table_args__ = (Index("ix_social_contracts_member_iins", "member_iins", postgresql_using="gin"),
                      # The sweep finds the drafted contracts past their deadline and the signed
                      # ones past their period.
                      Index("ix_social_contracts_status_sign_by", "status", "sign_by"),
                      Index("ix_social_contracts_status_ends_on", "status", "ends_on"))

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    application_id: Mapped[UUID] = mapped_column(unique=True)
    decision_id: Mapped[UUID]
    status: Mapped[str] = mapped_column(String(20))
    region_kato: Mapped[str] = mapped_column(String(9))
    period_quarter: Mapped[str] = mapped_column(String(7))
    obligations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    drafted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_by: Mapped[str | None] = mapped_column(String(100))
    signed_via: Mapped[str | None] = mapped_column(String(100))
    applicant_iin: Mapped[str | None] = mapped_column(String(12))
    member_iins: Mapped[list[str]] = mapped_column(ARRAY(String(12)), server_default=text("'{}'"))
    # Issue 11: the signing deadline, the period, measures and breaches (each a JSON list, ordered
    # as recorded: a contract is read and changed whole, under its row lock) and how it ended.
    sign_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_on: Mapped[date | None] = mapped_column(Date)
    measures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    breaches: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    lapsed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    terminated_on: Mapped[date | None] = mapped_column(Date)
    termination_breach_id: Mapped[UUID | None]
    termination_reason: Mapped[str | None] = mapped_column(String(20))
    completed_on: Mapped[date | None] = mapped_column(Date)


class ParameterReplica(Base):
    """The values of the policy parameters contracts applies itself (`contract_sign_business_days`;
    eligibility owns them and announces each with `parameter.recorded`)."""

    __tablename__ = "parameter_replica"

    parameter_id: Mapped[UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    region_kato: Mapped[str | None] = mapped_column(String(9))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    value: Mapped[Any] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
