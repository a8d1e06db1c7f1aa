"""Every query the gateway makes. Functions take the session or connection they run in; the
caller of a repository function owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.models import (
    CALLERS_CHANNEL, KEYS_CHANNEL, AuditRow, BankNonceRow, CallerRow, DataAccessRow, DevMasterKeyRow, SigningKeyRow,
)

# ---- callers ----------------------------------------------------------------------------


async def get_caller(session: AsyncSession, caller_id: str, *, for_update: bool = False) -> CallerRow | None:
    query = select(CallerRow).where(CallerRow.id == caller_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_callers(session: AsyncSession) -> Sequence[CallerRow]:
    return (await session.execute(select(CallerRow).order_by(CallerRow.id))).scalars().all()


def add_caller(session: AsyncSession, row: CallerRow) -> None:
    session.add(row)


async def notify_caller_changed(session: AsyncSession, caller_id: str) -> None:
    """Delivered to every listening gateway instance when the transaction commits."""
    await session.execute(text("SELECT pg_notify(:channel, :payload)"),
                          {"channel": CALLERS_CHANNEL, "payload": caller_id})


# ---- development master key ---------------------------------------------------------------


async def dev_master_key(session: AsyncSession, *, candidate: bytes) -> bytes:
    """The stored development master key; `candidate` becomes it if none is stored yet."""
    await session.execute(pg_insert(DevMasterKeyRow).values(id=1, key=candidate).on_conflict_do_nothing())
    return (await session.execute(select(DevMasterKeyRow.key).where(DevMasterKeyRow.id == 1))).scalar_one()


# ---- signing keys -------------------------------------------------------------------------


async def signing_keys(session: AsyncSession, *, now: datetime) -> Sequence[SigningKeyRow]:
    """Keys that still sign or verify, newest first."""
    query = (select(SigningKeyRow)
             .where((SigningKeyRow.verify_until.is_(None)) | (SigningKeyRow.verify_until > now))
             .order_by(SigningKeyRow.created_at.desc(), SigningKeyRow.kid))
    return (await session.execute(query)).scalars().all()


async def lock_signing_keys(session: AsyncSession) -> None:
    """Serialises key creation and rotation across gateway instances (transaction-scoped)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('qamqor_gateway_signing_keys'))"))


async def retire_signing_keys(session: AsyncSession, *, now: datetime, verify_until: datetime) -> None:
    await session.execute(update(SigningKeyRow).where(SigningKeyRow.retired_at.is_(None))
                          .values(retired_at=now, verify_until=verify_until))


def add_signing_key(session: AsyncSession, row: SigningKeyRow) -> None:
    session.add(row)


async def notify_keys_changed(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": KEYS_CHANNEL})


# ---- bank nonces --------------------------------------------------------------------------


async def remember_nonce(conn: AsyncConnection, *, caller_id: str, nonce: str, expires_at: datetime) -> bool:
    """True if the nonce is new; False if it was already used (a replay)."""
    stmt = (pg_insert(BankNonceRow).values(caller_id=caller_id, nonce=nonce, expires_at=expires_at)
            .on_conflict_do_nothing().returning(BankNonceRow.nonce))
    return (await conn.execute(stmt)).first() is not None


async def purge_nonces(conn: AsyncConnection, *, now: datetime) -> int:
    return (await conn.execute(delete(BankNonceRow).where(BankNonceRow.expires_at < now))).rowcount or 0


# ---- audit --------------------------------------------------------------------------------


async def insert_audit_records(conn: AsyncConnection, records: list[dict[str, Any]]) -> None:
    await conn.execute(insert(AuditRow), records)


async def query_audit(
    session: AsyncSession,
    *,
    caller_id: str | None,
    request_id: str | None,
    route: str | None,
    status: int | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AuditRow]:
    """Newest first, keyset-paginated by id."""
    query = select(AuditRow)
    if caller_id is not None:
        query = query.where(AuditRow.caller_id == caller_id)
    if request_id is not None:
        query = query.where(AuditRow.request_id == request_id)
    if route is not None:
        query = query.where(AuditRow.route == route)
    if status is not None:
        query = query.where(AuditRow.status == status)
    if since is not None:
        query = query.where(AuditRow.at >= since)
    if until is not None:
        query = query.where(AuditRow.at < until)
    if before_id is not None:
        query = query.where(AuditRow.id < before_id)
    return (await session.execute(query.order_by(AuditRow.id.desc()).limit(limit))).scalars().all()


# ---- data access ----------------------------------------------------------------------------


async def insert_data_access_records(conn: AsyncConnection, records: list[dict[str, Any]]) -> None:
    await conn.execute(insert(DataAccessRow), records)


async def query_data_access(
    session: AsyncSession,
    *,
    subject_hmac: str | None,
    caller_id: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> Sequence[DataAccessRow]:
    """Newest first, keyset-paginated by id."""
    query = select(DataAccessRow)
    if subject_hmac is not None:
        query = query.where(DataAccessRow.subject_hmac == subject_hmac)
    if caller_id is not None:
        query = query.where(DataAccessRow.caller_id == caller_id)
    if since is not None:
        query = query.where(DataAccessRow.at >= since)
    if until is not None:
        query = query.where(DataAccessRow.at < until)
    if before_id is not None:
        query = query.where(DataAccessRow.id < before_id)
    return (await session.execute(query.order_by(DataAccessRow.id.desc()).limit(limit))).scalars().all()


async def database_now(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.now()))).scalar_one()
