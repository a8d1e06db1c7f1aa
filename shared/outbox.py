"""Transactional outbox and inbox tables, present in every service's database.

`record_event` adds an outgoing event in the caller's transaction, so the state change and its
event commit or vanish together; `pg_notify` wakes the relay when that transaction commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy import (
    BigInteger,
    bindparam,
    cast,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Envelope
from shared.observability import request_id_var
from shared import tracing

OUTBOX_CHANNEL = "qamqor_outbox"

plumbing_metadata = MetaData()

outbox = Table(
    "outbox",
    plumbing_metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("envelope", JSONB, nullable=False),
    Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Index("ix_outbox_pending", "seq", postgresql_where=text("published_at IS NULL")),
)

inbox = Table(
    "inbox",
    plumbing_metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("source", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("outcome", String(20), nullable=False, server_default="handled"),  # handled | dead_lettered | ignored
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


async def record_event(session: AsyncSession, topic: str, envelope: Envelope, headers: dict[str, str] | None = None) -> None:
    headers = dict(headers or {})
    request_id = request_id_var.get()
    if request_id:
        # The gateway's request id travels on with the event, so one citizen's request can be
        # followed through every service's logs.
        headers.setdefault("x-request-id", request_id)
    # And its trace: the consumer's span will be a child of the span writing this event.
    tracing.trace_event(headers, topic, envelope.type, envelope.id, envelope.key)
    await session.execute(_INSERT_EVENT, {
        "event_id": envelope.id, "topic": topic, "key": envelope.key, "event_type": envelope.type,
        "envelope": envelope.model_dump_json(), "headers": headers})
    await _notify_relay(session)


# Built once: constructing the INSERT for every event cost about as much CPU as running it. The
# envelope goes in as the JSON text pydantic writes (cast to JSONB by the database).
_INSERT_EVENT = insert(outbox).values(
    event_id=bindparam("event_id"), topic=bindparam("topic"), key=bindparam("key"),
    event_type=bindparam("event_type"), envelope=cast(bindparam("envelope", type_=Text), JSONB),
    headers=bindparam("headers"))
_NOTIFY = text(f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')")
_NOTIFIED = "qamqor.outbox.notified"


async def _notify_relay(session: AsyncSession) -> None:
    """Wake the relay when this transaction commits — once per transaction: PostgreSQL delivers
    one notification for any number of identical ones in a transaction, and a batch of events
    handled in one transaction need not pay a round trip each for it. Forgotten whenever a
    transaction or savepoint of the session ends (committed or rolled back), so a notification
    lost with a rolled-back savepoint is sent again with the next event."""
    sync = session.sync_session
    if sync.info.get(_NOTIFIED):
        return
    await session.execute(_NOTIFY)
    sync.info[_NOTIFIED] = True
    if not sync.info.get(_NOTIFIED + ".listening"):
        sync.info[_NOTIFIED + ".listening"] = True
        orm_event.listen(sync, "after_transaction_end", _forget_notified)


def _forget_notified(session: Any, _transaction: Any) -> None:
    session.info.pop(_NOTIFIED, None)


async def emit(
    session: AsyncSession,
    payload,  # noqa: ANN001 - a registered event contract
    *,
    source: str,
    key: str,
    cause: Envelope | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """Record `payload` as an event of `source` (topic `qamqor.<source>`) in this transaction."""
    from shared.events.contracts import TOPICS

    if cause is not None:
        envelope = cause.follow(payload, source=source, key=key)
    else:
        envelope = Envelope.wrap(payload, source=source, key=key, correlation_id=correlation_id)
    await record_event(session, TOPICS[source], envelope)
    return envelope


async def emit_many(
    session: AsyncSession,
    events: list[tuple[Any, str, Envelope | None]],
    *,
    source: str,
) -> list[Envelope]:
    """`emit` for many events at once — each (payload, key, cause) — in one INSERT executed with
    every row and one wake-up of the relay: a consumer's batch form (shared/consumer.py) records
    its events at the cost of one statement, not one per event."""
    from shared.events.contracts import TOPICS

    if not events:
        return []
    topic = TOPICS[source]
    request_id = request_id_var.get()
    envelopes: list[Envelope] = []
    rows = []
    for payload, key, cause in events:
        envelope = (cause.follow(payload, source=source, key=key) if cause is not None
                    else Envelope.wrap(payload, source=source, key=key))
        headers = {"x-request-id": request_id} if request_id else {}
        tracing.trace_event(headers, topic, envelope.type, envelope.id, envelope.key)
        envelopes.append(envelope)
        rows.append({"event_id": envelope.id, "topic": topic, "key": envelope.key, "event_type": envelope.type,
                     "envelope": envelope.model_dump_json(), "headers": headers})
    await session.execute(_INSERT_EVENT, rows)
    await _notify_relay(session)
    return envelopes
