"""Idempotency-Key for external POSTs: the same key with the same body gives the same answer
and no second effect; the same key with another body is refused."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import Column, DateTime, Integer, String, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import QamqorError
from shared.outbox import plumbing_metadata

idempotency_keys = Table(
    "idempotency_keys",
    plumbing_metadata,
    Column("caller_id", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def body_hash(body: Any) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def require_key(key: str | None) -> str:
    if not key or len(key) > 200:
        raise QamqorError(
            "This request needs an Idempotency-Key header (1-200 characters) so that a retry "
            "does not create a second record.",
            status=400, slug="idempotency-key-required", title="Idempotency-Key required",
            errors=[{"field": "header.Idempotency-Key", "message": "required, 1-200 characters"}],
        )
    return key


async def run_once(
    session: AsyncSession,
    *,
    caller_id: str,
    key: str,
    request_body: Any,
    action: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
) -> tuple[int, dict[str, Any], bool]:
    """(status, body, replayed). The key row is inserted first in the request's transaction,
    so a concurrent retry waits for this one and then sees its answer."""
    digest = body_hash(request_body)
    key_row = {"the_caller": caller_id, "the_key": key}
    inserted = (await session.execute(_CLAIM, {"caller_id": caller_id, "key": key, "request_hash": digest})).first()
    if inserted is None:
        row = (await session.execute(_STORED, key_row)).one()
        if row.request_hash != digest:
            raise QamqorError(
                "This Idempotency-Key was already used with a different request body.",
                status=422, slug="idempotency-key-reused", title="Idempotency-Key reused",
                errors=[{"field": "header.Idempotency-Key", "message": "already used with another body"}],
            )
        return row.status_code, row.response, True
    status, body = await action()
    await session.execute(_ANSWER, key_row | {"status_code": status, "response": body})
    return status, body, False


# Built once, with bound parameters (every external POST runs them).
_CLAIM = (insert(idempotency_keys).values(caller_id=bindparam("caller_id"), key=bindparam("key"),
                                          request_hash=bindparam("request_hash"))
          .on_conflict_do_nothing().returning(idempotency_keys.c.key))
_STORED = select(idempotency_keys).where(idempotency_keys.c.caller_id == bindparam("the_caller"),
                                         idempotency_keys.c.key == bindparam("the_key"))
_ANSWER = (update(idempotency_keys).where(idempotency_keys.c.caller_id == bindparam("the_caller"),
                                          idempotency_keys.c.key == bindparam("the_key"))
           .values(status_code=bindparam("status_code"), response=bindparam("response")))
