"""The gateway's own database: callers, its token signing keys, bank nonces, the audit log and the
record of every read of a person's data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# pg_notify channels: a change committed by one gateway instance (or the CLI) reaches every
# other instance at once.
CALLERS_CHANNEL = "qamqor_gateway_callers"
KEYS_CHANNEL = "qamqor_gateway_keys"


class Base(DeclarativeBase):
    pass


class CallerRow(Base):
    __tablename__ = "callers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    secret_hash: Mapped[str] = mapped_column(String(200))  # argon2id, PHC string
    # Bumped on every secret rotation; tokens carry it, so a rotation revokes older tokens.
    credential_version: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Not unique: a bank may run several API clients (e.g. two data centres), each with its
    # own secrets, all acting for the same bank code.
    bank_code: Mapped[str | None] = mapped_column(String(11), index=True)
    # Case workers only: the two-digit KATO region prefixes whose families the caller serves.
    regions: Mapped[list[str]] = mapped_column(ARRAY(String(2)), server_default="{}")
    # HMAC needs the secret itself, so it is sealed (AES-256-GCM) with the gateway master key.
    signing_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SigningKeyRow(Base):
    """Access-token signing keys. The newest un-retired key signs; a retired key stays in the
    JWKS (and verifies) until every token it signed has expired."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # After this moment no unexpired token can carry the key: it leaves the JWKS.
    verify_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BankNonceRow(Base):
    """Nonces of accepted bank requests, kept for the signature window so a replay is refused
    by whichever gateway instance it reaches."""

    __tablename__ = "bank_nonces"

    caller_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DevMasterKeyRow(Base):
    """Development and test only: with no master key file configured, the sealing key lives
    here, so every process using this database (gateway instances, CLI, `make run` seeding)
    agrees on it whatever its working directory. Production requires a master key file and
    never reads this table."""

    __tablename__ = "dev_master_key"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary)


class AuditRow(Base):
    """Who called what: no bodies, IINs masked in the path."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_caller_at", "caller_id", "at"),
        Index("ix_audit_at", "at"),
        Index("ix_audit_request_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    caller_id: Mapped[str | None] = mapped_column(String(64))
    caller_kind: Mapped[str | None] = mapped_column(String(20))
    # The citizen a portal acted for (token exchange), masked: `7910******28`.
    acting_for: Mapped[str | None] = mapped_column(String(12))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(500))
    service: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[int] = mapped_column(SmallInteger)
    latency_ms: Mapped[float] = mapped_column()
    request_id: Mapped[str] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64))


class DataAccessRow(Base):
    """One person's data in one answer to one caller: who read whose data, when and why
    (Kazakhstan's law on personal data, art. 7 and 12, expects the record). The person is kept
    as an HMAC of the IIN under a key derived from the master key — the table can be searched by
    IIN but holds none — and, for reading, masked."""

    __tablename__ = "data_access_records"
    __table_args__ = (
        Index("ix_data_access_subject_at", "subject_hmac", "at"),
        Index("ix_data_access_caller_at", "caller_id", "at"),
        Index("ix_data_access_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    caller_id: Mapped[str] = mapped_column(String(64))
    caller_kind: Mapped[str] = mapped_column(String(20))
    acting_for: Mapped[str | None] = mapped_column(String(12))  # the citizen a portal acted for, masked
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(SmallInteger)
    request_id: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(200))  # what the caller's job is, by its kind
    stated_purpose: Mapped[str | None] = mapped_column(String(200))  # X-Qamqor-Purpose, if sent
    subject_hmac: Mapped[str] = mapped_column(String(64))  # hex HMAC-SHA256 of the IIN
    subject_masked: Mapped[str] = mapped_column(String(12))
